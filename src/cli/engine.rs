use std::path::PathBuf;

use synprint::analyze::Engine;

use super::error::CliError;

/// The largest p0f.fp read: p0f 3.09b's is 40 KB. The bound keeps a wrong
/// path (`/dev/zero`, a disk image) from filling memory.
pub const MAX_P0F_DB_BYTES: u64 = 16 << 20;

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
            // Bytes, not text: a binary file handed over by mistake is then
            // named by the line where it goes wrong, as p0f.fp errors are.
            let bytes = synprint::bounded::read_whole(path, MAX_P0F_DB_BYTES)
                .map_err(|source| CliError::P0fRead {
                    path: path.clone(),
                    source,
                })?
                .ok_or_else(|| CliError::P0fTooLarge { path: path.clone() })?;
            let db = synprint::p0f::Database::parse_bytes(&bytes).map_err(|source| {
                CliError::P0fParse {
                    path: path.clone(),
                    source,
                }
            })?;
            if db.signature_count() == 0 {
                return Err(CliError::P0fEmpty { path: path.clone() });
            }
            engine = engine.with_p0f_database(db);
        }
        if let Some(path) = &self.model {
            engine = engine.with_model(synprint::classify::Model::with_learned_file(path)?);
        }
        Ok(engine)
    }
}
