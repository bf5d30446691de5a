use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use synprint::analyze::{Analyzer, AnalyzerConfig, Claim, ConnUptime, LiveEvent, Record};
use synprint::capture::{
    decompressing, plain_size, CaptureCounters, CaptureError, CaptureOptions, CaptureReader,
    LiveCapture, Stopped,
};
use synprint::classify::{counted, Joined};
use synprint::output::{write_inventory, Format, InventoryFormat, PreallocatedFile, RecordWriter};
use synprint::packet::{Filter, LinkType, Skip};
use synprint::store::{Inventory, InventoryLimits};

use super::engine::EngineArgs;
use super::error::CliError;
use super::replace::{replace_whole, ReplaceError};

/// Files above this size get a progress bar (when stderr is a terminal).
const PROGRESS_MIN_BYTES: u64 = 4 << 20;

#[derive(clap::Args)]
// Files or an interface: the error for neither names both.
#[command(group(clap::ArgGroup::new("input").required(true).args(["files", "interface"])))]
pub struct AnalyzeArgs {
    /// Capture files (pcap or pcapng, gzip-compressed or not, any link type synprint reads); `-` reads standard input.
    #[arg(conflicts_with = "interface")]
    files: Vec<PathBuf>,
    /// Capture live on this interface instead (`any` for all; Linux, needs
    /// CAP_NET_RAW): records are written as SYNs arrive, until Ctrl-C,
    /// SIGTERM, SIGHUP or --duration.
    #[arg(short, long, value_name = "NAME")]
    interface: Option<String>,
    /// Only SYNs to this port and SYN+ACKs from it (a server's side of p0f's
    /// `port N` filter), in files as live; the others are counted as `other ports`.
    #[arg(long, value_name = "PORT")]
    capture_port: Option<u16>,
    /// Only SYNs and SYN+ACKs this tcpdump-style expression keeps, as p0f's
    /// filter argument: host, net, port, portrange, src/dst, ip/ip6/tcp,
    /// and/or/not, parentheses (e.g. 'net 10.0.0.0/8 and not port 22'); read
    /// on the fingerprinted packet, inside tunnels too. The others are
    /// counted as `filtered out`.
    #[arg(long, value_name = "EXPR", value_parser = Filter::parse)]
    filter: Option<Filter>,
    /// With --interface: put the interface into promiscuous mode while
    /// capturing (a mirror/SPAN port needs it; p0f's -p). The kernel undoes
    /// it when synprint exits.
    #[arg(long, requires = "interface", conflicts_with = "files")]
    promiscuous: bool,
    /// With --interface: also read the SYNs inside tunnels (VXLAN,
    /// GRE/ERSPAN, Geneve, IP-in-IP, MPLS, PPPoE, ...), as a collector of
    /// mirrored traffic needs; the kernel then passes every packet of
    /// those tunnels.
    #[arg(long, requires = "interface", conflicts_with = "files")]
    capture_tunnels: bool,
    /// With --interface: once the capture is open and the inputs are read,
    /// run as this user (its groups, no capability), as tcpdump -Z does:
    /// the output files are then made by that user. Needs root.
    #[arg(long, value_name = "NAME", requires = "interface", conflicts_with = "files",
          value_parser = synprint::sys::account_named)]
    user: Option<synprint::sys::Account>,
    /// With --interface: stop after this many seconds.
    #[arg(long, value_name = "SECS", requires = "interface", conflicts_with = "files", value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Output format; default: text on a terminal, jsonl otherwise.
    #[arg(short, long, value_enum)]
    format: Option<Format>,
    /// Write records here instead of standard output (`-`: standard output).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Never show a progress bar.
    #[arg(long)]
    no_progress: bool,
    /// Labels CSV (`src_ip`, `src_port`, `user_agent` and/or `os`): SYNs of
    /// labelled connections get a `verdict` against the claimed OS; `-`
    /// reads standard input.
    #[arg(long, value_name = "CSV")]
    labels: Option<PathBuf>,
    /// Also write, at the end, an inventory of the hosts seen: per address,
    /// the OS answer, hops, link, uptime, the ports it served and each
    /// distinct stack it used (`-`: standard output).
    #[arg(long, value_name = "PATH")]
    inventory: Option<PathBuf>,
    /// The inventory's format; default: text on a terminal, jsonl otherwise.
    #[arg(long, value_enum, requires = "inventory")]
    inventory_format: Option<InventoryFormat>,
    /// With --interface: also rewrite the inventory file every SECS while
    /// capturing (each time whole: it is replaced, never seen half written).
    #[arg(long, value_name = "SECS", requires = "inventory", requires = "interface",
          conflicts_with = "files", value_parser = parse_duration)]
    inventory_every: Option<Duration>,
    /// Addresses the inventory lists, the first ones seen; records from
    /// later addresses are only counted (a flood of spoofed sources cannot
    /// push out the hosts seen before it).
    #[arg(long, value_name = "N", default_value_t = 100_000, requires = "inventory",
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    inventory_max_hosts: u64,
    #[command(flatten)]
    engine: EngineArgs,
}

/// The output, whose write errors name it (`-o /dev/full`: which file is
/// full?). The error's kind is kept: a closed pipe is still recognised.
///
/// After a stop signal, a reader that does not read (`| less` left open, a
/// stalled consumer) cannot hold the run: writes go out in pieces a pipe
/// takes whole or not at all (at most `PIPE_BUF` bytes, ending at a line
/// end where one is in reach, so what the reader gets ends with a whole
/// record unless the stop cut a write short), each once the output can
/// take it, and an output that takes
/// nothing for [`STOP_WRITE_GRACE_MS`] is given up, with one line on
/// standard error. A blocking write would hold the stop until the
/// reader reads, and a service manager's SIGTERM would end in SIGKILL,
/// without the summary.
///
/// Once a write fails, nothing more is written: a later write (the
/// buffer's retry as it is dropped) would put the rest of a cut record
/// after it. A write that fails part-way (a full disk) leaves a record cut
/// short at the end of the file; in a file this run made (`-o`), which no
/// one else writes, that piece is taken back, so the file ends with a
/// whole line, as a reader of JSON lines needs.
struct NamedOutput<W> {
    inner: W,
    name: String,
    stop: Option<&'static AtomicBool>,
    given_up: bool,
    /// A write failed, this way: the output takes nothing more, and says
    /// the same kind of error again (a reader gone stays a reader gone).
    failed: Option<io::ErrorKind>,
    /// The file is this run's own (`-o`): a cut line may be taken back.
    own_file: bool,
    /// Bytes the output took after its last line end.
    since_line_end: u64,
}

/// How long, after a stop, the output may take nothing before it is given
/// up.
const STOP_WRITE_GRACE_MS: i32 = 3000;

impl<W: Write + AsFd> NamedOutput<W> {
    fn new(inner: W, name: String, stop: Option<&'static AtomicBool>, own_file: bool) -> Self {
        NamedOutput {
            inner,
            name,
            stop,
            given_up: false,
            failed: None,
            own_file,
            since_line_end: 0,
        }
    }

    fn named(&self, e: io::Error) -> io::Error {
        io::Error::new(e.kind(), format!("{}: {e}", self.name))
    }

    /// After a failed write: cuts the part of a line this run's own file
    /// took off its end, where the file ends where this output wrote last;
    /// says whether it did.
    fn take_back_cut_line(&self) -> bool {
        use std::io::Seek;
        let cut = self.since_line_end;
        if !self.own_file || cut == 0 {
            return false;
        }
        let Ok(fd) = self.inner.as_fd().try_clone_to_owned() else {
            return false;
        };
        let mut file = File::from(fd);
        let Ok(meta) = file.metadata() else {
            return false;
        };
        let at = file.stream_position().ok();
        if !meta.is_file() || at != Some(meta.len()) {
            return false;
        }
        let end = meta.len().saturating_sub(cut);
        file.set_len(end).is_ok() && file.seek(io::SeekFrom::Start(end)).is_ok()
    }

    /// After a stop: waits for the output to take a write; gives it up if
    /// it does not.
    fn ready_after_stop(&mut self) -> io::Result<bool> {
        if !self.stop.is_some_and(|s| s.load(Relaxed)) {
            return Ok(false);
        }
        if synprint::sys::wait_writable(self.inner.as_fd(), STOP_WRITE_GRACE_MS)? {
            return Ok(true);
        }
        self.given_up = true;
        synprint::say!(
            "{}: not read when the stop came; records it had not taken are left out",
            self.name
        );
        Err(io::Error::other(GivenUp))
    }
}

impl<W: Write + AsFd> Write for NamedOutput<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.given_up {
            return Err(io::Error::other(GivenUp));
        }
        if let Some(kind) = self.failed {
            let refused = io::Error::new(kind, "not written after a failed write");
            return Err(self.named(refused));
        }
        let piece = match self.ready_after_stop()? {
            true => {
                let head = buf.get(..libc::PIPE_BUF).unwrap_or(buf);
                match head.iter().rposition(|&b| b == b'\n') {
                    Some(end) => &head[..=end],
                    None => head,
                }
            }
            false => buf,
        };
        match self.inner.write(piece) {
            Ok(n) => {
                let took = piece.get(..n).unwrap_or(piece);
                self.since_line_end = match took.iter().rposition(|&b| b == b'\n') {
                    Some(end) => (n - end - 1) as u64,
                    None => self.since_line_end + n as u64,
                };
                Ok(n)
            }
            // Retried by the caller.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(self.named(e)),
            Err(e) => {
                self.failed = Some(e.kind());
                let e = self.named(e);
                Err(match self.take_back_cut_line() {
                    true => io::Error::new(
                        e.kind(),
                        format!("{e} (the line it cut short is taken back)"),
                    ),
                    false => e,
                })
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.given_up {
            return Err(io::Error::other(GivenUp));
        }
        self.inner.flush().map_err(|e| self.named(e))
    }
}

/// The error of an output given up at a stop signal.
#[derive(Debug, thiserror::Error)]
#[error("not read when the stop came")]
struct GivenUp;

fn is_given_up(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<GivenUp>())
}

/// The output's reader went away (`| head`) or stopped reading when a stop
/// came: the end of the records, not a failure.
fn is_output_closed(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe || is_given_up(e)
}

/// Standard input read to its end the first time is empty the second.
pub(super) fn refuse_stdin_twice<'a>(
    inputs: impl IntoIterator<Item = &'a PathBuf>,
) -> Result<(), CliError> {
    match inputs.into_iter().filter(|p| p.as_os_str() == "-").count() {
        0 | 1 => Ok(()),
        _ => Err(CliError::StdinTwice),
    }
}

/// See [`CliError::NoCapture`]. Some of them opening is a run that reads
/// those and names the others, as `cat` does. A regular file's header is
/// read here; a pipe's or device's is not, as its first bytes would be
/// gone when the run reads it.
fn refuse_when_no_capture_opens(files: &[PathBuf]) -> Result<(), CliError> {
    let mut unopened = Vec::new();
    for path in files {
        if path.as_os_str() == "-" {
            return Ok(());
        }
        let why = match File::open(path).and_then(|f| f.metadata()) {
            Ok(m) if m.is_dir() => CaptureError::Open(io::ErrorKind::IsADirectory.into()),
            Ok(m) if m.is_file() => match CaptureReader::open(path) {
                Ok(_) => return Ok(()),
                Err(e) => e,
            },
            Ok(_) => return Ok(()),
            Err(e) => CaptureError::Open(e),
        };
        unopened.push((path.clone(), why));
    }
    if unopened.is_empty() {
        Ok(())
    } else {
        Err(CliError::NoCapture { unopened })
    }
}

/// Where records or an inventory go.
#[derive(Clone, Copy)]
enum Dest<'a> {
    Stdout,
    File(&'a Path),
}

impl<'a> Dest<'a> {
    /// A file named, or standard output.
    fn of(file: Option<&'a PathBuf>) -> Self {
        file.map_or(Dest::Stdout, |p| Dest::File(p))
    }

    /// What the file or standard output is on disk.
    fn metadata(self) -> io::Result<std::fs::Metadata> {
        match self {
            Dest::Stdout => metadata_of(io::stdout().as_fd()),
            Dest::File(path) => std::fs::metadata(path),
        }
    }

    /// As messages name it.
    fn name(self) -> String {
        match self {
            Dest::Stdout => "standard output".into(),
            Dest::File(path) => path.display().to_string(),
        }
    }

    fn identity(self) -> Identity {
        use std::os::unix::fs::MetadataExt;
        let Ok(m) = self.metadata() else {
            return Identity::Unknown;
        };
        let null = std::fs::metadata("/dev/null").map(|n| (n.dev(), n.ino()));
        if null.is_ok_and(|n| n == (m.dev(), m.ino())) {
            Identity::Null
        } else {
            Identity::Known(m.dev(), m.ino())
        }
    }
}

/// What an open descriptor (standard input or output) is on disk.
fn metadata_of(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<std::fs::Metadata> {
    File::from(fd.try_clone_to_owned()?).metadata()
}

/// What a [`Dest`] is on disk.
#[derive(PartialEq)]
enum Identity {
    /// /dev/null, which any number of outputs may share.
    Null,
    /// Device and inode.
    Known(u64, u64),
    /// Not there (yet).
    Unknown,
}

/// See [`CliError::InventoryWithRecords`]: the same name, or the same file
/// by any name (`/dev/stdout`, a link).
fn refuse_shared_output(records: Dest<'_>, inventory: Dest<'_>) -> Result<(), CliError> {
    let same = match (records, inventory, records.identity(), inventory.identity()) {
        (Dest::Stdout, Dest::Stdout, ..) => true,
        (.., Identity::Null, _) | (.., Identity::Null) => false,
        (.., a @ Identity::Known(..), b) => a == b,
        (Dest::File(a), Dest::File(b), ..) => a == b,
        _ => false,
    };
    if same {
        Err(CliError::InventoryWithRecords)
    } else {
        Ok(())
    }
}

/// A file this run created, removed when the run does not start after all
/// (dropped before [`MadeFile::keep`]).
struct MadeFile(Option<PathBuf>);

impl MadeFile {
    fn keep(&mut self) {
        self.0 = None;
    }
}

impl Drop for MadeFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// See [`CliError::OutputIsInput`].
fn refuse_to_overwrite_an_input<'a>(
    output: Dest<'_>,
    inputs: impl Iterator<Item = &'a PathBuf>,
) -> Result<(), CliError> {
    use std::os::unix::fs::MetadataExt;
    let Ok(out) = output.metadata() else {
        return Ok(());
    };
    for input in inputs {
        // `-`: whatever standard input was redirected from (`< out.pcap`).
        let m = if input.as_os_str() == "-" {
            metadata_of(io::stdin().as_fd())
        } else {
            std::fs::metadata(input)
        };
        if let Ok(m) = m {
            if m.dev() == out.dev() && m.ino() == out.ino() && m.is_file() {
                let name = match input.to_str() {
                    Some("-") => "standard input".into(),
                    _ => input.display().to_string(),
                };
                return Err(CliError::OutputIsInput {
                    output: output.name(),
                    input: name,
                });
            }
        }
    }
    Ok(())
}

pub fn run(args: AnalyzeArgs) -> Result<ExitCode, CliError> {
    refuse_stdin_twice(args.files.iter().chain(&args.labels))?;
    let engine = args.engine.build()?;
    // Before the output file is created: a mistyped interface or a missing
    // privilege must not empty yesterday's output.
    let capture = match &args.interface {
        Some(interface) => Some(LiveCapture::open(
            interface,
            &CaptureOptions {
                port: args.capture_port,
                promiscuous: args.promiscuous,
                tunnels: args.capture_tunnels,
            },
        )?),
        None => None,
    };
    if capture.is_some() {
        // Nothing needs it once the capture is open.
        synprint::sys::give_up_capability(synprint::sys::CAP_NET_RAW)
            .map_err(CliError::GiveUpCapture)?;
    }
    // `-o -` is standard output, as `-` is standard input.
    let output = args.output.as_ref().filter(|p| p.as_os_str() != "-");
    let stdout_tty = output.is_none() && io::stdout().is_terminal();
    let format = args.format.unwrap_or(if stdout_tty {
        Format::Text
    } else {
        Format::Jsonl
    });
    let inventory_out = args.inventory.as_ref().filter(|p| p.as_os_str() != "-");
    // Records and inventory in one place: asked before the inventory's file
    // is created (an existing one is not emptied) and after (a new one then
    // exists to compare with).
    let apart = || match &args.inventory {
        Some(_) if format != Format::None => {
            refuse_shared_output(Dest::of(output), Dest::of(inventory_out))
        }
        _ => Ok(()),
    };
    apart()?;
    if args.inventory_every.is_some() && inventory_out.is_none() {
        return Err(CliError::InventoryEveryToStdout);
    }
    // Standard output too: `analyze cap.pcap >> cap.pcap` would read its
    // own records back. An `-o` file is made (emptied) whatever the format.
    let records = match output {
        Some(path) => Some(Dest::File(path)),
        None => (format != Format::None).then_some(Dest::Stdout),
    };
    let inventory = args.inventory.as_ref().map(|_| Dest::of(inventory_out));
    for dest in records.into_iter().chain(inventory) {
        let inputs = args.files.iter().chain(&args.labels);
        refuse_to_overwrite_an_input(dest, inputs.chain(args.engine.inputs()))?;
    }
    refuse_when_no_capture_opens(&args.files)?;
    // Also before the output file is created: a bad labels file must not
    // empty it either.
    let judge = match &args.labels {
        Some(path) => Some(Judge {
            labels: super::learn::read_labels(path)?,
            judged: RefCell::default(),
            reused: Cell::new(0),
            outcomes: Cell::default(),
        }),
        None => None,
    };
    // As tcpdump -Z: the capture is open and the inputs are read; the
    // outputs are made by the user (and a failed switch empties nothing).
    if let Some(account) = &args.user {
        synprint::sys::become_user(account)?;
    }
    let user = args.user.as_ref().map(|a| a.name.as_str());
    let opening = |path: &Path| {
        let path = path.to_path_buf();
        move |source: io::Error| match user {
            Some(user) if source.kind() == io::ErrorKind::PermissionDenied => {
                let user = user.to_string();
                CliError::OutputAsUser { path, user, source }
            }
            _ => CliError::Output { path, source },
        }
    };
    // A file the inventory makes is taken back if the run does not start.
    let mut made = MadeFile(None);
    let inventory = match &args.inventory {
        Some(_) => Some(InventoryOut {
            hosts: RefCell::new(Inventory::new(InventoryLimits {
                max_hosts: usize::try_from(args.inventory_max_hosts).unwrap_or(usize::MAX),
                ..InventoryLimits::default()
            })),
            file: match inventory_out {
                Some(path) => {
                    let existed = path.exists();
                    // Not emptied here: a run that fails to start leaves
                    // an earlier inventory as it was.
                    let file = File::options()
                        .write(true)
                        .create(true)
                        .truncate(false)
                        .open(path);
                    let file = file.map_err(opening(path))?;
                    if !existed {
                        made = MadeFile(Some(path.clone()));
                    }
                    Some(InventoryFile::new(path, file, !existed))
                }
                None => None,
            },
            every: args.inventory_every,
            next: Cell::new(Instant::now() + args.inventory_every.unwrap_or_default()),
            refresh_failed: Cell::new(false),
            changed: Cell::new(false),
            format: args.inventory_format.unwrap_or(
                if inventory_out.is_none() && io::stdout().is_terminal() {
                    InventoryFormat::Text
                } else {
                    InventoryFormat::Jsonl
                },
            ),
        }),
        None => None,
    };
    apart()?;
    let each = PerRecord { judge, inventory };
    // Ctrl-C ends the run with the records so far flushed and the summary
    // (a second one kills). Without the handler, a file's run is as before.
    let stop = match capture {
        Some(_) => Some(synprint::sys::stop_on_signals().map_err(CliError::Signals)?),
        None => synprint::sys::stop_on_signals().ok(),
    };
    let sink: Box<dyn Write> = match output {
        // p0f's `-o` appends to its log: so does its format here, so that a
        // tool reading the log loses nothing at a restart. Others may
        // append to it too: nothing is taken back from it.
        Some(path) if format == Format::P0f => Box::new(NamedOutput::new(
            File::options()
                .append(true)
                .create(true)
                .open(path)
                .map_err(opening(path))?,
            path.display().to_string(),
            stop,
            false,
        )),
        Some(path) => Box::new(NamedOutput::new(
            PreallocatedFile::create(path).map_err(opening(path))?,
            path.display().to_string(),
            stop,
            true,
        )),
        // The descriptor itself, not `io::stdout()`, whose own buffer
        // retries an interrupted write (`writer` buffers already).
        None => Box::new(NamedOutput::new(
            File::from(
                io::stdout()
                    .as_fd()
                    .try_clone_to_owned()
                    .map_err(CliError::Stdout)?,
            ),
            "standard output".into(),
            stop,
            false,
        )),
    };
    made.keep();
    let mut writer = RecordWriter::new(BufWriter::with_capacity(1 << 16, sink), format);
    if let (Some(capture), Some(stop)) = (capture, stop) {
        return run_live(capture, &args, &engine, &mut writer, &each, stop);
    }
    let started = Instant::now();
    // One analyzer for all the files, read as one stream (rotated files of
    // one capture, `tcpdump -C`): a SYN retransmitted across a file's end
    // makes one record, and uptime pairs SYNs across files.
    // Followed for the formats that write p0f's uptime lines, and for an
    // inventory beside no records, which gets those uptimes too (JSON
    // lines stay one record per SYN, which following would change).
    let config = AnalyzerConfig {
        follow_connections: writer.wants_conn_uptimes()
            || (format == Format::None && args.inventory.is_some()),
        ..analyzer_config(&args.files)
    };
    let mut analyzer = Analyzer::new(&engine, config);
    analyzer.keep_only_port(args.capture_port);
    analyzer.keep_only_matching(args.filter.clone());
    let mut failed = false;
    let mut interrupted = false;
    let mut output_dead = false;
    // Why the inventory covers only part of the files, if it does.
    let mut cut_short = None;
    // A bar on the terminal the records are printed on would be cut into them.
    let records_on_terminal = stdout_tty && format != Format::None;
    let may_show_progress = !args.no_progress && !records_on_terminal;

    for path in &args.files {
        let name = path.display().to_string();
        match open_input(path, stop) {
            Ok(opened) => {
                let end = analyze_file(
                    &name,
                    opened,
                    may_show_progress,
                    &mut analyzer,
                    &mut writer,
                    &each,
                    stop,
                );
                match end {
                    FileEnd::Read => {}
                    FileEnd::Failed => failed = true,
                    FileEnd::Stop => break,
                    FileEnd::ReaderGone => {
                        // Quiet as any filter's, but the summary must not
                        // read as a whole run's.
                        synprint::say!(
                            "{name}: the records' reader went away; reading stopped, the \
                             summary counts what was read before"
                        );
                        cut_short = Some("the records' reader went away");
                        break;
                    }
                    FileEnd::Interrupted => {
                        interrupted = true;
                        break;
                    }
                    FileEnd::OutputFailed => {
                        output_dead = true;
                        break;
                    }
                }
            }
            // A file that cannot be opened is reported as one that is not a
            // capture is: one line, and the run goes on with the next file.
            Err(e) => {
                // p0f takes its filter as the last argument: a missing
                // "file" that reads as one was most likely meant as one.
                let hint = match Filter::parse(&name) {
                    Ok(_) if e.kind() == io::ErrorKind::NotFound => {
                        format!(" (to keep what a filter keeps: --filter '{name}')")
                    }
                    _ => String::new(),
                };
                say_after_records(
                    &mut writer,
                    &mut output_dead,
                    format_args!("{name}: {e}{hint}"),
                );
                failed = true;
            }
        }
        // Later files' records would be refused as well: stop reading, and
        // still give the summary of what was read.
        if output_dead {
            break;
        }
    }
    if !output_dead {
        if let Err(e) = flush_before_message(&mut writer) {
            synprint::say!("{}", StreamError::Output(e));
            output_dead = true;
        }
    }
    failed |= output_dead;
    if output_dead {
        cut_short = Some("writing the records failed");
    } else if interrupted {
        cut_short = Some("the interruption");
    }
    let secs = started.elapsed().as_secs_f64();
    let total = analyzer.stats();
    eprint_whole(&total);
    if let Some(judge) = &each.judge {
        judge.report();
    }
    // A slow stream (a pipe from a quiet capture) still shows its rate.
    let rate = total.packets as f64 / secs.max(1e-9);
    let digits = if rate < 10.0 { 1 } else { 0 };
    eprint_whole(format_args!(
        "time:                {secs:.3} s ({rate:.digits$} packets/s)"
    ));
    if let Some(inventory) = &each.inventory {
        failed |= !inventory.write(cut_short);
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else if interrupted {
        ExitCode::from(INTERRUPTED)
    } else {
        ExitCode::SUCCESS
    })
}

/// The exit status of a run interrupted (Ctrl-C, SIGTERM, SIGHUP) before the end
/// of a capture file: as a shell reports a command a SIGINT ended, so a
/// script does not take the records for the whole file's.
const INTERRUPTED: u8 = 130;

/// Writes `text` and a newline to standard error in one write: standard
/// error is unbuffered, and the summary's two dozen pieces were a system
/// call each.
fn eprint_whole(text: impl std::fmt::Display) {
    let line = format!("{text}\n");
    // Nothing is left to tell if standard error is gone.
    let _ = io::stderr().write_all(line.as_bytes());
}

/// Tables sized by what the inputs can hold (a small file starts faster
/// with small ones); the default bounds when one is a pipe, standard input
/// or compressed, whose packets its size does not tell.
fn analyzer_config(files: &[PathBuf]) -> AnalyzerConfig {
    match files.iter().map(|p| plain_size(p)).sum::<Option<u64>>() {
        Some(bytes) => AnalyzerConfig::for_capture_bytes(bytes),
        None => AnalyzerConfig::default(),
    }
}

/// An input opened for reading: decompressed if it was compressed, with its
/// size when it is a regular file (a pipe has none).
struct Opened {
    input: Box<dyn Read>,
    size: Option<u64>,
    /// The file's own bytes read so far, compressed or not (for progress).
    consumed: Rc<Cell<u64>>,
}

/// Opens `path` (`-`: standard input). A pipe or terminal is read so that
/// `stop` ends it; a regular file is read to its end.
fn open_input(path: &Path, stop: Option<&'static AtomicBool>) -> io::Result<Opened> {
    let consumed = Rc::new(Cell::new(0u64));
    let f = if path.as_os_str() == "-" {
        File::from(io::stdin().as_fd().try_clone_to_owned()?)
    } else {
        File::open(path)?
    };
    // A pipe or terminal (`tcpdump -w - |`, `<(tcpdump -w -)`, a FIFO) has
    // no size to size tables by, and is read as a live stream; standard
    // input redirected from a file is a file.
    let size = f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
    let stop = if size.is_some() { None } else { stop };
    let counted = Counted {
        inner: UntilStopped { inner: f, stop },
        consumed: Rc::clone(&consumed),
    };
    let input = decompressing(counted)?;
    Ok(Opened {
        input,
        size,
        consumed,
    })
}

/// How reading one file ended, for the files after it.
enum FileEnd {
    /// To its end: on with the next file.
    Read,
    /// With an error, said after its records: on with the next file, and
    /// the run fails.
    Failed,
    /// A stream interrupted: no more files.
    Stop,
    /// Whoever read the records went away: no more files.
    ReaderGone,
    /// A file interrupted before its end: no more files, and the run says so.
    Interrupted,
    /// The output failed: no more files, and the run fails.
    OutputFailed,
}

/// Analyses one opened file (its name, and whether it may show a progress
/// bar when large) into `writer`; returns how it ended, having said after
/// its records what went wrong.
fn analyze_file<W: Write>(
    name: &str,
    opened: Opened,
    may_show_progress: bool,
    analyzer: &mut Analyzer<'_>,
    writer: &mut RecordWriter<W>,
    each: &PerRecord,
    stop: Option<&'static AtomicBool>,
) -> FileEnd {
    let is_file = opened.size.is_some();
    let progress = opened
        .size
        .filter(|&s| may_show_progress && s >= PROGRESS_MIN_BYTES && io::stderr().is_terminal())
        .map(|size| (progress_bar(size), Rc::clone(&opened.consumed)));
    let unread_before = analyzer.stats().skipped[Skip::UnknownLinkType.index()];
    let mut unread_links = Vec::new();
    let outcome = CaptureReader::new(opened.input)
        .map_err(StreamError::from)
        .and_then(|mut reader| {
            let outcome = analyze_stream(
                &mut reader,
                analyzer,
                writer,
                progress.as_ref(),
                each,
                // A stream is usually a live `tcpdump -w -`: each record
                // goes out as soon as it is made instead of in 1 MiB
                // batches.
                !is_file,
                stop,
            );
            let unread = reader.link_types().iter().filter(|l| !l.is_decoded());
            unread_links.extend(unread);
            outcome
        });
    if let Some((bar, _)) = progress {
        bar.finish_and_clear();
    }
    if outcome.as_ref().is_err_and(|e| e.output_error().is_some()) {
        settle(analyzer, each);
    }
    let mut output_dead = outcome.as_ref().is_err_and(StreamError::is_output_failed);
    let unread = analyzer.stats().skipped[Skip::UnknownLinkType.index()] - unread_before;
    if unread > 0 && !unread_links.is_empty() {
        let note = unread_note(name, &unread_links, unread);
        say_after_records(writer, &mut output_dead, format_args!("{note}"));
    }
    let stopped = stop.is_some_and(|s| s.load(Relaxed));
    let outcome = match outcome {
        Err(StreamError::Output(e)) if stopped && is_given_up(&e) => Ok(()),
        Err(StreamError::CaptureThenOutput { capture, output })
            if stopped && is_given_up(&output) =>
        {
            Err(StreamError::Capture(capture))
        }
        outcome => outcome,
    };
    let end = match outcome {
        // A pipe's reader ends at the signal, maybe inside a record: that is
        // the interruption, not a damaged capture; nor is an output given
        // up at the signal.
        Ok(()) | Err(StreamError::Capture(_)) if stopped => {
            say_after_records(
                writer,
                &mut output_dead,
                format_args!("{name}: interrupted; the summary counts what was read before"),
            );
            // Ctrl-C is how a live stream ends; a file was cut short.
            if is_file {
                FileEnd::Interrupted
            } else {
                FileEnd::Stop
            }
        }
        Ok(()) => FileEnd::Read,
        // Whoever read the records went away (`| head`): the rest would go
        // nowhere, so reading stops, quietly, as for any Unix filter.
        Err(e) if e.is_reader_gone() => FileEnd::ReaderGone,
        Err(e) => {
            say_after_records(writer, &mut output_dead, format_args!("{name}: {e}"));
            FileEnd::Failed
        }
    };
    if output_dead {
        FileEnd::OutputFailed
    } else {
        end
    }
}

/// Names the link types of a file that synprint does not read: the summary
/// only counts their frames as `unknown_link_type`.
fn unread_note(name: &str, links: &[LinkType], frames: u64) -> String {
    let numbers: Vec<String> = links.iter().map(|l| l.0.to_string()).collect();
    let (types, skipped) = match (links.len(), frames) {
        (1, 1) => ("link type", "frame"),
        (1, _) => ("link type", "frames"),
        (_, 1) => ("link types", "frame"),
        _ => ("link types", "frames"),
    };
    format!(
        "{name}: synprint does not read {types} {} (tcpdump.org's LINKTYPE_ numbers; the \
         README's \"Link types\" lists those it reads): {frames} {skipped} skipped as \
         unknown_link_type",
        numbers.join(", ")
    )
}

/// Writes out the records gathered so far, so that a message about a file
/// comes after its records when both streams go to one place (`2>&1`);
/// a reader that went away is not an error here.
fn flush_before_message<W: Write>(writer: &mut RecordWriter<W>) -> io::Result<()> {
    match writer.flush() {
        Err(e) if is_output_closed(&e) => Ok(()),
        flushed => flushed,
    }
}

/// Prints `message` on stderr after the records gathered so far. An
/// output that cannot take them (a full disk) is reported after the
/// message and marked `dead`: every later flush would fail the same way,
/// so later messages skip it, and the run ends with its summary.
fn say_after_records<W: Write>(
    writer: &mut RecordWriter<W>,
    dead: &mut bool,
    message: std::fmt::Arguments<'_>,
) {
    let flushed = if *dead {
        Ok(())
    } else {
        flush_before_message(writer)
    };
    synprint::say!("{message}");
    if let Err(e) = flushed {
        synprint::say!("{}", StreamError::Output(e));
        *dead = true;
    }
}

/// `--interface`: records as the kernel hands SYNs over, flushed after
/// each of its blocks, until a signal or the deadline; then the summary,
/// with what the kernel passed and dropped.
fn run_live<W: Write>(
    mut capture: LiveCapture,
    args: &AnalyzeArgs,
    engine: &synprint::analyze::Engine,
    writer: &mut RecordWriter<W>,
    each: &PerRecord,
    stop: &AtomicBool,
) -> Result<ExitCode, CliError> {
    let interface = capture.interface().to_string();
    // Said once the socket is open: SYNs from here on are seen.
    let described = capture.options().described(args.filter.as_ref());
    let stops = match args.duration {
        Some(d) => format!("stops after {} s, or at Ctrl-C", d.as_secs_f64()),
        None => "Ctrl-C stops".to_string(),
    };
    synprint::say!("capturing on {interface}{described}; {stops}");
    let started = Instant::now();
    let deadline = args.duration.map(|d| started + d);
    let keep_going = || {
        if let Some(inventory) = &each.inventory {
            inventory.refresh_if_due();
        }
        !stop.load(Relaxed) && deadline.is_none_or(|deadline| Instant::now() < deadline)
    };
    let counters = CaptureCounters::default();
    let mut analyzer = Analyzer::new(engine, AnalyzerConfig::default());
    analyzer.keep_only_matching(args.filter.clone());
    let port = capture.options().port;
    let mut feed = analyzer.live(port, &counters, |e| match e {
        LiveEvent::Record(record) => {
            each.see(record);
            writer.write(record)
        }
        LiveEvent::BlockEnd => writer.flush(),
        LiveEvent::Link(event) => {
            synprint::say!("synprint: capture on {interface}: {event}");
            Ok(())
        }
    });
    let streamed = capture.stream(&counters, keep_going, &mut feed);
    drop(feed);
    let (flushed, gone) = match streamed {
        Ok(()) => (writer.flush(), None),
        Err(Stopped::Deliver(e)) => {
            settle(&mut analyzer, each);
            (Err(e), None)
        }
        Err(Stopped::Capture(e)) => (writer.flush(), Some(e)),
    };
    let mut cut_short = None;
    let mut failed = match flushed {
        Ok(()) => false,
        // A reader that went away (`| head`) ends the capture, quietly.
        Err(e) if is_output_closed(&e) => {
            cut_short = Some(match is_given_up(&e) {
                true => "the records' reader stopped reading",
                false => "the records' reader went away",
            });
            false
        }
        Err(e) => {
            synprint::say!("writing records: {e}");
            cut_short = Some("writing the records failed");
            true
        }
    };
    if let Some(e) = gone {
        synprint::say!("synprint: {e}");
        failed = true;
    }
    let secs = started.elapsed().as_secs_f64();
    eprint_whole(analyzer.stats());
    if let Some(judge) = &each.judge {
        judge.report();
    }
    let passed = counters.kernel_packets.load(Relaxed);
    let dropped = counters.kernel_drops.load(Relaxed);
    // The kernel counts its drops among the packets passed. What it kept
    // and the ring still held after the stop's last blocks were read (a
    // reader far behind) is said: the count of records would not show it.
    let unread = passed
        .saturating_sub(dropped)
        .saturating_sub(counters.received.load(Relaxed));
    let unread = match unread {
        0 => String::new(),
        n => format!(", {n} still in the ring when the capture stopped (not read)"),
    };
    eprint_whole(format_args!(
        "kernel:              {passed} packets passed the filter, {dropped} dropped (ring \
         full){unread}\n\
         time:                {secs:.3} s on {interface}"
    ));
    if let Some(inventory) = &each.inventory {
        failed |= !inventory.write(cut_short);
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Makes the records of the packets the analyzer still holds, without
/// writing them, once the output has failed: the summary's records and
/// skips then add up to the packets read, and the inventory holds them.
fn settle(analyzer: &mut Analyzer<'_>, each: &PerRecord) {
    let _ = analyzer.drain(&mut |r| {
        each.see(r);
        Ok::<(), std::convert::Infallible>(())
    });
}

/// Seconds, whole or not: `30`, `0.5`; at most a century, so the
/// deadline is a time the clock can hold.
fn parse_duration(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 3.2e9)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("`{text}` is not a number of seconds above 0 and up to a century"))
}

#[derive(Debug, thiserror::Error)]
enum StreamError {
    #[error(transparent)]
    Capture(#[from] synprint::capture::CaptureError),
    #[error("writing records: {0}")]
    Output(#[from] io::Error),
    #[error("{capture}; then writing records: {output}")]
    CaptureThenOutput {
        capture: synprint::capture::CaptureError,
        output: io::Error,
    },
}

impl StreamError {
    fn output_error(&self) -> Option<&io::Error> {
        match self {
            StreamError::Output(e) | StreamError::CaptureThenOutput { output: e, .. } => Some(e),
            StreamError::Capture(_) => None,
        }
    }

    /// The output is a pipe whose reader has closed it, or stopped reading
    /// when a stop came.
    fn is_reader_gone(&self) -> bool {
        self.output_error().is_some_and(is_output_closed)
    }

    /// The output refused records (a full disk): later ones would be
    /// refused too.
    fn is_output_failed(&self) -> bool {
        self.output_error().is_some_and(|e| !is_output_closed(e))
    }
}

fn analyze_stream<W: Write>(
    reader: &mut CaptureReader<Box<dyn Read>>,
    analyzer: &mut Analyzer<'_>,
    writer: &mut RecordWriter<W>,
    progress: Option<&(indicatif::ProgressBar, Rc<Cell<u64>>)>,
    each: &PerRecord,
    live: bool,
    stop: Option<&AtomicBool>,
) -> Result<(), StreamError> {
    let follow = analyzer.follows_connections();
    // Takes the writer as an argument: between frames it also writes the
    // uptimes connection following finds.
    let emit = |writer: &mut RecordWriter<W>, record: &mut Record| -> Result<(), io::Error> {
        each.see(record);
        writer.write(record)?;
        if live {
            // A live stream shows each record as soon as its packet arrives.
            writer.flush()?;
        }
        Ok(())
    };
    let mut n: u64 = 0;
    loop {
        let frame = match reader.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => {
                analyzer.drain(&mut |r| emit(writer, r))?;
                return Ok(());
            }
            Err(e) => {
                analyzer.count_capture_error();
                // Both are told when the output fails on the last records.
                return Err(match analyzer.drain(&mut |r| emit(writer, r)) {
                    Ok(()) => e.into(),
                    Err(output) => StreamError::CaptureThenOutput { capture: e, output },
                });
            }
        };
        if live {
            if let Some(mut record) = analyzer.process_frame(frame.link, frame.ts, frame.data) {
                emit(writer, &mut record)?;
            }
        } else {
            analyzer.feed_frame(frame.link, frame.ts, frame.data, &mut |r| emit(writer, r))?;
        }
        if follow {
            if let Some(u) = analyzer.take_conn_uptime() {
                each.see_uptime(&u);
                if writer.wants_conn_uptimes() {
                    writer.write_conn_uptime(&u)?;
                    if live {
                        writer.flush()?;
                    }
                }
            }
        }
        n += 1;
        // Asked per frame of a live stream (one may come a minute after
        // the last), else once in a while.
        if live || n % 65_536 == 0 {
            // The caller tells an interruption from the end by the flag.
            if stop.is_some_and(|s| s.load(Relaxed)) {
                analyzer.drain(&mut |r| emit(writer, r))?;
                return Ok(());
            }
            if let Some((bar, consumed)) = progress {
                bar.set_position(consumed.get());
            }
        }
    }
}

/// A file read as is, or (with `stop`) a pipe or terminal read so that
/// Ctrl-C is noticed while it is idle: after the signal, what is already
/// there is still read, then it ends as at end of file. Reads the
/// descriptor directly, with no buffer of its own that a readiness check
/// would not see.
struct UntilStopped {
    inner: File,
    stop: Option<&'static AtomicBool>,
}

impl Read for UntilStopped {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(stop) = self.stop else {
            return self.inner.read(buf);
        };
        loop {
            let stopping = stop.load(Relaxed);
            let wait_ms = if stopping { 0 } else { 100 };
            if synprint::sys::wait_readable(self.inner.as_fd(), wait_ms)? {
                return self.inner.read(buf);
            }
            if stopping {
                return Ok(0);
            }
        }
    }
}

/// A reader counting the bytes it hands out.
struct Counted<R> {
    inner: R,
    consumed: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed.set(self.consumed.get() + n as u64);
        Ok(n)
    }
}

fn progress_bar(size: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(size);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}

/// What happens to each record before it is written.
struct PerRecord {
    judge: Option<Judge>,
    inventory: Option<InventoryOut>,
}

impl PerRecord {
    fn see(&self, record: &mut Record) {
        if let Some(judge) = &self.judge {
            judge.apply(record);
        }
        if let Some(inventory) = &self.inventory {
            if inventory.hosts.borrow_mut().add(record) {
                inventory.changed.set(true);
            }
        }
    }

    /// Only where files are read: a live capture follows no connection
    /// (its kernel filter passes SYNs alone), so a rewrite on the way is
    /// never owed to an uptime.
    fn see_uptime(&self, u: &ConnUptime) {
        if let Some(inventory) = &self.inventory {
            inventory.hosts.borrow_mut().add_uptime(u);
        }
    }
}

/// `--inventory`: the hosts gathered, and where they go at the end (and
/// with `--inventory-every`, on the way).
struct InventoryOut {
    hosts: RefCell<Inventory>,
    /// `None`: standard output.
    file: Option<InventoryFile>,
    format: InventoryFormat,
    every: Option<Duration>,
    /// When the next rewrite is due.
    next: Cell<Instant>,
    /// A rewrite failed and said so: later ones fail quietly until the end.
    refresh_failed: Cell<bool>,
    /// A listed host was added to since the last rewrite: an idle
    /// network's inventory, or one past its host limit under a flood of
    /// new addresses, is not rewritten (60,000 hosts are 40 MB).
    changed: Cell<bool>,
}

/// The inventory's file as named, and as the run writes it.
struct InventoryFile {
    /// As given, for messages.
    name: PathBuf,
    /// Opened (created) at the start: devices and pipes are written
    /// through it. A regular file's is the file now under its name: after
    /// a rename, the new one (the one opened at the start has no name any
    /// more, and a rewrite in place must not go there).
    file: RefCell<File>,
    /// A regular file's real path (links resolved): written whole to a
    /// file beside it, then renamed over it, so that a reader never sees
    /// half an inventory.
    replace: Option<PathBuf>,
    /// The device and inode of the file, when this run made it: if the
    /// inventory cannot be written, that empty file is taken back rather
    /// than left to read as "no hosts" (and only that file, not one another
    /// process put under the name since).
    made: Option<(u64, u64)>,
    /// Set once the file could not be replaced whole: from then on it is
    /// rewritten in place (said once), rather than written beside it first
    /// each time only to find again that it cannot be renamed.
    in_place: std::cell::Cell<bool>,
}

impl InventoryFile {
    fn new(name: &Path, file: File, made: bool) -> Self {
        use std::os::unix::fs::MetadataExt;
        let meta = file.metadata();
        let regular = meta.as_ref().is_ok_and(|m| m.is_file());
        let replace = regular.then(|| std::fs::canonicalize(name).ok()).flatten();
        InventoryFile {
            name: name.to_path_buf(),
            file: RefCell::new(file),
            replace,
            made: meta.ok().filter(|_| made).map(|m| (m.dev(), m.ino())),
            in_place: std::cell::Cell::new(false),
        }
    }

    /// After a final write that failed: removes the file if it is still the
    /// empty one this run made; says whether it did.
    fn take_back_if_empty(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        let path = self.replace.as_deref().unwrap_or(&self.name);
        let ours = |m: std::fs::Metadata| {
            m.is_file() && m.len() == 0 && self.made == Some((m.dev(), m.ino()))
        };
        std::fs::symlink_metadata(path).is_ok_and(ours) && std::fs::remove_file(path).is_ok()
    }

    fn write(&self, hosts: &Inventory, format: InventoryFormat) -> io::Result<()> {
        let Some(path) = &self.replace else {
            return write_inventory(&mut BufWriter::new(&*self.file.borrow()), hosts, format);
        };
        if self.in_place.get() {
            return self.write_in_place(hosts, format);
        }
        // Not synced: a live capture waits while it is written.
        match replace_whole(path, false, |f| {
            write_inventory(&mut BufWriter::new(f), hosts, format)
        }) {
            Ok(new) => {
                *self.file.borrow_mut() = new;
                Ok(())
            }
            // A folder that takes no new file, or whose sticky bit keeps the
            // file from being replaced by another user (`--user`): the file
            // alone is writable, so it is rewritten in place from now on,
            // and said, as a reader may then see it half written.
            Err(ReplaceError::Create(e, _) | ReplaceError::Rename(e)) => {
                self.in_place.set(true);
                synprint::say!(
                    "inventory: {}: cannot replace it whole ({e}); rewriting it in place from \
                     now on, so a reader may see it half written",
                    self.name.display()
                );
                self.write_in_place(hosts, format)
            }
            // Not in place: a write that failed here (a full disk) would
            // fail there too, after emptying the last inventory.
            Err(e) => Err(e.into_io()),
        }
    }

    fn write_in_place(&self, hosts: &Inventory, format: InventoryFormat) -> io::Result<()> {
        use std::io::Seek;
        let file = self.file.borrow();
        (&*file).seek(io::SeekFrom::Start(0))?;
        file.set_len(0)?;
        let mut out = BufWriter::new(&*file);
        write_inventory(&mut out, hosts, format)
    }
}

impl InventoryOut {
    fn write_now(&self) -> io::Result<()> {
        let hosts = self.hosts.borrow();
        match &self.file {
            Some(file) => file.write(&hosts, self.format),
            None => write_inventory(
                &mut BufWriter::new(io::stdout().lock()),
                &hosts,
                self.format,
            ),
        }
    }

    /// With `--inventory-every`, rewrites the file when that is due; says
    /// the first failure (the final write says its own).
    fn refresh_if_due(&self) {
        let (Some(every), Some(file)) = (self.every, &self.file) else {
            return;
        };
        let now = Instant::now();
        if now < self.next.get() {
            return;
        }
        self.next.set(now + every);
        if !self.changed.get() {
            return;
        }
        match self.write_now() {
            Ok(()) => self.changed.set(false),
            Err(e) if !self.refresh_failed.replace(true) => {
                synprint::say!("inventory: {}: {e}", file.name.display());
            }
            Err(_) => {}
        }
    }

    /// Writes the inventory and says how many hosts it lists, and, when
    /// reading stopped early, why (`cut_short`); false when it could not be
    /// written (said too).
    fn write(&self, cut_short: Option<&str>) -> bool {
        let written = self.write_now();
        let name = match &self.file {
            Some(file) => file.name.display().to_string(),
            None => "standard output".into(),
        };
        let hosts = self.hosts.borrow();
        let listed = counted(hosts.len() as u64, "host", "hosts");
        let unlisted = hosts.unlisted_records();
        let mut notes = if unlisted > 0 {
            format!(
                "; {unlisted} records from addresses past the first {} not listed \
                 (--inventory-max-hosts)",
                hosts.limits().max_hosts
            )
        } else {
            String::new()
        };
        if let Some(why) = cut_short {
            notes.push_str(&format!("; of the packets read before {why}"));
        }
        match written {
            Ok(()) => {
                synprint::say!("inventory:           {listed}, to {name}{notes}");
                true
            }
            // A reader that went away (`| head`) took what it wanted.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => true,
            Err(e) => {
                let removed = self
                    .file
                    .as_ref()
                    .is_some_and(InventoryFile::take_back_if_empty);
                let removed = if removed {
                    " (the empty file this run made is removed)"
                } else {
                    ""
                };
                synprint::say!("inventory: {name}: {e}{removed}");
                false
            }
        }
    }
}

/// `--labels`: the CSV, and how many SYNs it gave a verdict.
struct Judge {
    labels: synprint::classify::Labels,
    /// Address and port of each SYN judged: only the first SYN of a label
    /// row is (`Labels::join`), as in `learn` and `eval`.
    judged: RefCell<HashSet<(IpAddr, u16)>>,
    /// Later SYNs (new connections) from a judged address and port.
    reused: Cell<u64>,
    /// Verdicts by `os_mismatch`: true, false, null (the summary's audit,
    /// which `--format none` leaves as the only output).
    outcomes: Cell<Outcomes>,
}

#[derive(Clone, Copy, Default)]
struct Outcomes {
    mismatch: u64,
    consistent: u64,
    unjudged: u64,
    embedded: u64,
    middlebox: u64,
}

impl Judge {
    /// A labelled SYN's verdict: against the `os` column when the row
    /// names one (it wins, as in `learn` and `eval`), else against its
    /// User-Agent, present or not.
    fn apply(&self, record: &mut Record) {
        let label = match self
            .labels
            .join(record.obs(), &mut self.judged.borrow_mut())
        {
            Joined::First(label) => label,
            Joined::Unlabelled => return,
            Joined::Again => {
                self.reused.set(self.reused.get() + 1);
                return;
            }
        };
        // Reading the labels read each User-Agent once already.
        let claim = match (label.from_os_column, label.user_agent) {
            (true, _) => Claim::Os(label.os),
            (false, Some(reading)) => Claim::UserAgentRead(reading),
            (false, None) => Claim::UserAgent(None),
        };
        // Only a raw User-Agent claim can fail (the parser).
        record.verdict = record.verdict_for(claim).unwrap_or_default();
        let mut o = self.outcomes.get();
        match record.verdict.as_ref().and_then(|v| v.os_mismatch) {
            Some(true) => o.mismatch += 1,
            Some(false) => o.consistent += 1,
            None => o.unjudged += 1,
        }
        if let Some(v) = &record.verdict {
            o.embedded += u64::from(v.embedded_suspected);
            o.middlebox += u64::from(v.middlebox_suspected);
        }
        self.outcomes.set(o);
    }

    /// The summary line; a CSV that labelled nothing is said plainly, as
    /// it usually means its addresses or ports are not the capture's.
    fn report(&self) {
        let (judged, labelled) = (self.judged.borrow().len(), self.labels.len());
        let s = |n: usize| if n == 1 { "" } else { "s" };
        // Each SYN judged is the first of one row's address and port.
        let unmatched = labelled.saturating_sub(judged);
        synprint::say!(
            "labels:              {judged} SYN{} judged ({labelled} labelled connection{}, \
             {unmatched} of them matched no SYN)",
            s(judged),
            s(labelled)
        );
        let o = self.outcomes.get();
        if judged > 0 {
            synprint::say!(
                "                     os_mismatch: {} true, {} false, {} null (either side unknown, \
                 or a device built the SYN)",
                o.mismatch, o.consistent, o.unjudged
            );
            synprint::say!(
                "                     embedded_suspected: {} (a router's or IoT device's stack \
                 under a browser OS's claim); middlebox_suspected: {} (a proxy or network device \
                 built the SYN)",
                o.embedded,
                o.middlebox
            );
        }
        let reused = self.reused.get();
        if reused > 0 {
            synprint::say!(
                "                     {} from a labelled address and port not judged (a \
                 reused port: the row describes its first client)",
                counted(reused, "later SYN", "later SYNs")
            );
        }
        if judged == 0 && labelled > 0 {
            synprint::say!(
                "note: no SYN matched a label row: the CSV's src_ip and src_port must be the \
                 client's address and port as the capture shows them (not behind NAT or a proxy)"
            );
        }
    }
}
