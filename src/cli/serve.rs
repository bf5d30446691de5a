use std::process::ExitCode;
use std::sync::Arc;

use synprint::analyze::Engine;
use synprint::serve::{self, ServeArgs, ServeConfig};

pub fn run(args: ServeArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let config = ServeConfig::resolve(&args, |k| std::env::var(k).ok())?;
    let mut engine = Engine::default();
    if let Some(path) = &config.model {
        engine = engine.with_model(synprint::classify::Model::with_learned_file(path)?);
    }
    serve::run(config, Arc::new(engine))?;
    Ok(ExitCode::SUCCESS)
}
