use std::process::ExitCode;
use std::sync::Arc;

use synprint::analyze::Engine;
use synprint::serve::{self, ServeArgs, ServeConfig};

pub fn run(args: ServeArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let config = ServeConfig::resolve(&args, |k| std::env::var(k).ok())?;
    // The engine is where a learned model (`config.model`) is loaded once
    // the classifier exists; until then `--model` is accepted and unused.
    let engine = Engine::default();
    serve::run(config, Arc::new(engine))?;
    Ok(ExitCode::SUCCESS)
}
