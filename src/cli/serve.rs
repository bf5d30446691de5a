use std::process::ExitCode;
use std::sync::Arc;

use super::engine::EngineArgs;
use super::error::CliError;
use synprint::serve::{self, ServeArgs, ServeConfig};

pub fn run(args: ServeArgs) -> Result<ExitCode, CliError> {
    let config = ServeConfig::resolve(&args, |k| std::env::var(k).ok())?;
    let engine = EngineArgs::new(config.p0f_db.clone(), config.model.clone()).build()?;
    if args.check {
        for line in serve::check(&config)? {
            println!("{line}");
        }
        println!("configuration OK");
        return Ok(ExitCode::SUCCESS);
    }
    serve::run(config, Arc::new(engine))?;
    Ok(ExitCode::SUCCESS)
}
