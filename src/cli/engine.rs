use std::path::PathBuf;

use synprint::analyze::Engine;

use super::error::CliError;

/// Options that choose the databases and models every command uses.
#[derive(clap::Args)]
pub struct EngineArgs {
    /// A p0f.fp database to use instead of the built-in p0f 3.09b one.
    #[arg(long, value_name = "PATH")]
    p0f_db: Option<PathBuf>,
    /// A learned model (from `synprint learn`) used on top of the built-in knowledge.
    #[arg(long, value_name = "PATH")]
    model: Option<PathBuf>,
}

impl EngineArgs {
    pub fn new(p0f_db: Option<PathBuf>, model: Option<PathBuf>) -> Self {
        EngineArgs { p0f_db, model }
    }

    /// The files these options read.
    pub fn inputs(&self) -> impl Iterator<Item = &PathBuf> {
        self.p0f_db.iter().chain(&self.model)
    }

    pub fn build(&self) -> Result<Engine, CliError> {
        let mut engine = Engine::default();
        if let Some(path) = &self.p0f_db {
            engine = engine.with_p0f_database(synprint::p0f::Database::load(path)?);
        }
        if let Some(path) = &self.model {
            engine = engine.with_model(synprint::classify::Model::with_learned_file(path)?);
        }
        Ok(engine)
    }
}
