use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;

use super::engine::EngineArgs;
use super::error::CliError;
use synprint::serve::{self, ServeArgs, ServeConfig};

pub fn run(args: ServeArgs) -> Result<ExitCode, CliError> {
    let config = ServeConfig::resolve(&args, |k| std::env::var(k).ok())?;
    let engine = EngineArgs::new(config.p0f_db.clone(), config.model.clone()).build()?;
    if args.check {
        let mut out = io::stdout().lock();
        let written = serve::check(&config)?
            .iter()
            .try_for_each(|line| writeln!(out, "{line}"))
            .and_then(|()| writeln!(out, "configuration OK"))
            .and_then(|()| out.flush());
        match written {
            // Read by `| head` or `| grep -q`: the verdict is the status.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
            other => other.map_err(CliError::Stdout)?,
        }
        return Ok(ExitCode::SUCCESS);
    }
    serve::run(config, Arc::new(engine))?;
    Ok(ExitCode::SUCCESS)
}
