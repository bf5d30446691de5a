use std::path::{Path, PathBuf};
use std::process::ExitCode;

use synprint::classify::{self, Model, ModelFile, ModelKind};

use super::engine::EngineArgs;

#[derive(clap::Args)]
pub struct LearnArgs {
    /// Capture with the client SYNs (pcap or pcapng).
    #[arg(long, value_name = "FILE")]
    pcap: PathBuf,
    /// CSV with a header row: `src_ip`, `src_port` and an `os` or `user_agent` column.
    #[arg(long, value_name = "CSV")]
    labels: PathBuf,
    /// Learned model to write; if it exists, the new counts are added to it.
    #[arg(long, value_name = "PATH")]
    model: PathBuf,
    /// A p0f.fp database to use instead of the built-in one (p0f's match is one feature).
    #[arg(long, value_name = "PATH")]
    p0f_db: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct EvalArgs {
    /// Capture with the client SYNs (pcap or pcapng).
    #[arg(long, value_name = "FILE")]
    pcap: PathBuf,
    /// CSV with a header row: `src_ip`, `src_port` and an `os` or `user_agent` column.
    #[arg(long, value_name = "CSV")]
    labels: PathBuf,
    #[command(flatten)]
    engine: EngineArgs,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn learn(args: LearnArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let engine = EngineArgs::p0f_only(args.p0f_db.clone()).build()?;
    let labels = classify::read_labels_file(&args.labels)?;
    let mut learned = if args.model.exists() {
        let existing = ModelFile::load(&args.model)?;
        if existing.kind != ModelKind::Learned {
            return Err(format!(
                "{}: not a learned model (kind {:?})",
                args.model.display(),
                existing.kind
            )
            .into());
        }
        existing
    } else {
        ModelFile::empty_learned()
    };
    let model = Model::compile(&ModelFile::builtin()?, Some(&learned))?;
    let (stats, join) = classify::learn_capture(
        &model,
        &mut learned,
        &args.pcap,
        &labels,
        engine.p0f_database(),
    )?;
    write_atomically(&args.model, learned.to_toml().as_bytes())?;
    eprintln!(
        "{}: {} labelled SYNs learned ({} SYNs, {} without a label, {} with a label naming no known OS)",
        args.model.display(),
        stats.total,
        join.syns,
        join.unlabelled,
        join.label_without_os
    );
    for (os, n) in &stats.per_os {
        eprintln!("  {os:<10} {n}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn eval(args: EvalArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let engine = args.engine.build()?;
    let Some(model) = engine.model() else {
        return Err("classification is off".into());
    };
    let labels = classify::read_labels_file(&args.labels)?;
    let (report, join) = classify::eval_capture(model, &args.pcap, &labels, engine.p0f_database())?;
    if args.json {
        let out = serde_json::json!({ "join": join, "report": report });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{} labelled SYNs ({} SYNs, {} without a label, {} with a label naming no known OS)\n",
            join.labelled, join.syns, join.unlabelled, join.label_without_os
        );
        print!("{report}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes next to the target and renames, so an interrupted run never
/// leaves a half-written model behind.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(())
}
