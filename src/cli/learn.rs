use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use synprint::classify::{self, counted, Model, ModelFile, ModelKind};

use super::engine::EngineArgs;
use super::error::CliError;
use super::replace::{replace_whole, ReplaceError};

#[derive(clap::Args)]
pub struct LearnArgs {
    /// Captures with the client SYNs (pcap or pcapng, gzip-compressed or
    /// not), read in order as one (rotated files); `-` reads standard input.
    #[arg(long, value_name = "FILE", num_args = 1.., required = true)]
    pcap: Vec<PathBuf>,
    /// CSV with a header row: `src_ip`, `src_port` and an `os` or `user_agent` column; `-` reads standard input.
    #[arg(long, value_name = "CSV")]
    labels: PathBuf,
    /// Learned model to write; if it exists, the new counts are added to it.
    #[arg(long, value_name = "PATH")]
    model: PathBuf,
    /// A p0f.fp database to use instead of the built-in one (p0f's match is one feature).
    #[arg(long, value_name = "PATH")]
    p0f_db: Option<PathBuf>,
    /// Leave out labelled SYNs whose verdict against their label says the
    /// SYN is not the client's own stack (middlebox_suspected,
    /// embedded_suspected, os_mismatch), judged by the built-in knowledge
    /// plus the model being added to: a proxy's, VPN exit's or compromised
    /// router's SYN under a browser's User-Agent would be learned as that OS.
    #[arg(long)]
    skip_suspected: bool,
}

#[derive(clap::Args)]
pub struct EvalArgs {
    /// Captures with the client SYNs (pcap or pcapng, gzip-compressed or
    /// not), read in order as one (rotated files); `-` reads standard input.
    #[arg(long, value_name = "FILE", num_args = 1.., required = true)]
    pcap: Vec<PathBuf>,
    /// CSV with a header row: `src_ip`, `src_port` and an `os` or `user_agent` column; `-` reads standard input.
    #[arg(long, value_name = "CSV")]
    labels: PathBuf,
    #[command(flatten)]
    engine: EngineArgs,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn learn(args: LearnArgs) -> Result<ExitCode, CliError> {
    if args.model == Path::new("-") {
        return Err(CliError::ModelToStdout);
    }
    super::analyze::refuse_stdin_twice(args.pcap.iter().chain([&args.labels]))?;
    let engine = EngineArgs::new(args.p0f_db.clone(), None).build()?;
    let labels = read_labels(&args.labels)?;
    // Runs learning into one model at once (jobs over rotated captures)
    // each add their counts: reading the model again, adding and writing
    // is one step under a lock. With --skip-suspected the judge is that
    // model too, so the lock is taken before it is read for the judge.
    let early_lock = args.skip_suspected.then(|| lock_beside(&args.model));
    // Checked before the capture is read: a model this run cannot add to
    // fails at once.
    let existing = existing_model(&args.model)?;
    let judge = match args.skip_suspected {
        true => Some(Model::compile(&ModelFile::builtin()?, existing.as_ref())?),
        false => None,
    };
    let mut new = ModelFile::empty_learned();
    let (stats, join) = classify::learn_capture(
        &mut new,
        &args.pcap,
        &labels,
        engine.p0f_database(),
        judge.as_ref(),
    )?;
    if stats.total == 0 {
        let unknown = stats.skipped_unknown;
        let why = match stats.suspected.total() {
            0 => nothing_joined(&args.pcap, &args.labels, &join, unknown),
            _ => format!(
                "{}: no labelled SYN left to learn from: left out as suspected: {}{}",
                args.model.display(),
                left_out(&stats.suspected),
                match unknown {
                    0 => String::new(),
                    n => format!("; {n} labelled unknown"),
                }
            ),
        };
        synprint::say!("{why}");
        say_stopped_early(&join);
        synprint::say!("{}: not written", args.model.display());
        return Ok(ExitCode::FAILURE);
    }
    let _lock = early_lock.unwrap_or_else(|| lock_beside(&args.model));
    let mut learned = existing_model(&args.model)?.unwrap_or_else(ModelFile::empty_learned);
    let held: u64 = learned.class.values().map(|c| c.samples).sum();
    learned.absorb(&new);
    // What it adds may use this version's forms.
    let was = learned.version;
    learned.version = new.version;
    // Only what loads is written: counts at their limit, grown further,
    // would make a file that every later run refuses.
    let text = learned.to_toml();
    if text.len() > classify::MAX_MODEL_BYTES {
        return Err(CliError::ModelTooLarge {
            path: args.model.clone(),
        });
    }
    if let Err(source) = ModelFile::parse(&text, &args.model) {
        return Err(CliError::ModelOutgrown {
            path: args.model.clone(),
            source,
        });
    }
    write_atomically(&args.model, text.as_bytes())?;
    synprint::say!(
        "{}: {} learned ({join})",
        args.model.display(),
        counted(stats.total, "labelled SYN", "labelled SYNs"),
    );
    for (os, n) in &stats.per_os {
        synprint::say!("  {:<10} {n}", os.name());
    }
    if stats.skipped_unknown > 0 {
        synprint::say!(
            "  ({} labelled unknown: nothing to learn of an OS from them)",
            counted(stats.skipped_unknown, "SYN", "SYNs")
        );
    }
    if args.skip_suspected {
        synprint::say!("  (left out as suspected: {})", left_out(&stats.suspected));
    }
    if was < learned.version {
        synprint::say!(
            "  (the model is now version {}, was {was}: builds of synprint from before \
             2026-12-07 cannot read it)",
            learned.version
        );
    }
    if held > 0 {
        // Learning the same capture again counts it again: say what the
        // model held, so that a repeat shows.
        synprint::say!(
            "  added to the {} the model held: {} in all",
            counted(held, "SYN", "SYNs"),
            held + stats.total
        );
    }
    Ok(say_stopped_early(&join))
}

pub fn eval(args: EvalArgs) -> Result<ExitCode, CliError> {
    super::analyze::refuse_stdin_twice(args.pcap.iter().chain([&args.labels]))?;
    let engine = args.engine.build()?;
    let Some(model) = engine.model() else {
        return Err(CliError::ClassificationOff);
    };
    let labels = read_labels(&args.labels)?;
    let (report, join) = classify::eval_capture(model, &args.pcap, &labels, engine.p0f_database())?;
    // A report of 0.0% everywhere would read as a model that is always
    // wrong, not as labels that never matched: none is made (and `--json`
    // says so with a `null` report, beside the join's counts).
    let report = (join.labelled > 0).then_some(report);
    if report.is_none() {
        synprint::say!("{}", nothing_joined(&args.pcap, &args.labels, &join, 0));
    }
    let mut out = io::stdout().lock();
    let written = match &report {
        _ if args.json => {
            let json = serde_json::json!({ "join": join, "report": report });
            serde_json::to_writer_pretty(&mut out, &json)
                .map_err(io::Error::from)
                .and_then(|()| writeln!(out))
        }
        Some(report) => writeln!(
            out,
            "{} ({join})\n",
            counted(join.labelled, "labelled SYN", "labelled SYNs")
        )
        .and_then(|()| write!(out, "{report}")),
        None => Ok(()),
    };
    match written.and_then(|()| out.flush()) {
        // Read by `| head`: what it wanted was written.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        other => other.map_err(CliError::Stdout)?,
    }
    let status = say_stopped_early(&join);
    Ok(if report.is_some() {
        status
    } else {
        ExitCode::FAILURE
    })
}

/// Reads a labels CSV and says on stderr how many rows repeated an
/// address and port (their labels are not used), or that it had none.
pub(super) fn read_labels(path: &Path) -> Result<classify::Labels, classify::LabelError> {
    let labels = if path == Path::new("-") {
        classify::read_labels(io::stdin().lock(), path)?
    } else {
        classify::read_labels_file(path)?
    };
    if labels.rows == 0 {
        synprint::say!(
            "{}: no rows below the header: no SYN can be labelled",
            path.display()
        );
    }
    if labels.unix_socket > 0 {
        let n = labels.unix_socket;
        synprint::say!(
            "{}: {} of connections over a Unix socket (`unix:`): no SYN to join; not used",
            path.display(),
            counted(n as u64, "row", "rows")
        );
    }
    if labels.duplicates > 0 {
        let n = labels.duplicates;
        synprint::say!(
            "{}: {n} {} an address and port an earlier row labelled (as every request on one \
             keep-alive connection does in a web server's log); the first row of each is used",
            path.display(),
            if n == 1 { "row repeats" } else { "rows repeat" }
        );
    }
    Ok(labels)
}

/// Names the damage that stopped the capture early, after the output made
/// of the SYNs before it: the exit status fails, as `analyze`'s does.
fn say_stopped_early(join: &classify::JoinStats) -> ExitCode {
    match &join.stopped_early {
        Some(why) => {
            let syns = counted(join.syns, "client SYN", "client SYNs");
            synprint::say!("{why} ({syns} read in all)");
            ExitCode::FAILURE
        }
        None => ExitCode::SUCCESS,
    }
}

/// The SYNs `learn --skip-suspected` left out, by flag.
fn left_out(s: &classify::Suspected) -> String {
    format!(
        "{} built by a middlebox, {} an embedded device's under a browser OS's label, {} another \
         family's stack than the label's",
        counted(s.middlebox, "SYN", "SYNs"),
        s.embedded,
        s.mismatch
    )
}

/// Why a labels file gave nothing to learn from or score; `unknown`: SYNs
/// labelled `unknown` (which `learn` has nothing to learn from).
fn nothing_joined(
    pcaps: &[PathBuf],
    labels: &Path,
    join: &classify::JoinStats,
    unknown: u64,
) -> String {
    let unknown = match unknown {
        0 => String::new(),
        n => format!("; {n} labelled unknown"),
    };
    format!(
        "{}: no client SYN has a label naming an OS in {} ({join}{unknown}); the labels join \
         on src_ip and src_port, the client's address and port as the capture shows them",
        pcaps
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        labels.display(),
    )
}

/// The learned model at `path` to add to; `None` where there is none yet
/// (no file, or one made empty for it, as `mktemp` makes).
fn existing_model(path: &Path) -> Result<Option<ModelFile>, CliError> {
    if !path.exists() {
        return Ok(None);
    }
    // An empty file (or white space only, as `echo > model.toml` leaves)
    // is where a new model starts; not a device (`/dev/null`), which the
    // new model's rename would replace.
    let regular = || std::fs::metadata(path).is_ok_and(|m| m.is_file());
    let existing = match ModelFile::load(path) {
        Err(classify::ModelError::Empty { .. }) if regular() => return Ok(None),
        loaded => loaded?,
    };
    if existing.kind != ModelKind::Learned {
        return Err(CliError::Model(classify::ModelError::WrongKind {
            path: path.to_path_buf(),
            expected: ModelKind::Learned,
            found: existing.kind,
        }));
    }
    Ok(Some(existing))
}

/// The file `path` names, through a symbolic link (made or not yet).
fn link_target(path: &Path) -> PathBuf {
    match std::fs::canonicalize(path) {
        Ok(target) => target,
        // A link to a model not made yet: it is made where the link points.
        Err(_) => match std::fs::read_link(path) {
            Ok(to) => path.parent().unwrap_or(Path::new("")).join(to),
            Err(_) => path.to_path_buf(),
        },
    }
}

/// An exclusive lock on the directory of the model `path` names, held
/// while the returned file is open: a lock on the model itself would not
/// outlive the rename that replaces it, and the directory needs no lock
/// file left behind. Where it cannot be taken (a file system without
/// `flock`), learning goes on and says what it risks.
fn lock_beside(path: &Path) -> Option<std::fs::File> {
    let target = link_target(path);
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let locked = std::fs::File::open(&dir).and_then(|f| {
        use std::os::fd::AsFd;
        if !synprint::sys::lock_exclusive(f.as_fd(), false)? {
            synprint::say!(
                "{}: waiting for another run writing a model in {}",
                path.display(),
                dir.display()
            );
            synprint::sys::lock_exclusive(f.as_fd(), true)?;
        }
        Ok(f)
    });
    match locked {
        Ok(f) => Some(f),
        // No directory: the write fails and says so.
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            synprint::say!(
                "{}: cannot lock {} ({e}); runs learning into this model at the same time \
                 may lose each other's counts",
                path.display(),
                dir.display()
            );
            None
        }
    }
}

/// Replaces the model whole (an interrupted run never leaves half of one
/// behind). A model reached through a symbolic link is updated where the
/// link points, keeping its permissions: the rename must not put a new
/// file in the link's place.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let target = link_target(path);
    match replace_whole(&target, true, |mut f| f.write_all(bytes)) {
        Ok(_) => Ok(()),
        Err(ReplaceError::Rename(source)) => Err(CliError::Output {
            path: path.to_path_buf(),
            source,
        }),
        // Named as the user typed it: the temporary name is ours.
        Err(ReplaceError::Create(source, tmp) | ReplaceError::Write(source, tmp)) => {
            Err(CliError::ModelWrite {
                path: path.to_path_buf(),
                tmp,
                source,
            })
        }
    }
}
