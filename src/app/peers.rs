//! `bench --peers`: the same epochs in numpy, PyTorch (eager and
//! torch.compile) and JAX, timed by benches/*_epoch.py in the same
//! invocation, so that shadertrain's ratios to them come from one run on
//! one machine. The scripts are built into the binary and written to a
//! temporary folder for each peer's run; a peer whose framework the
//! interpreter cannot import is skipped with a notice.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context as _, Result};

use crate::bench::{PeerLine, Record, Shape};
use crate::contention;
use crate::cpu::Fast;
use crate::units;

mod script;

/// The scripts, as benches/ has them.
const SCRIPTS: [(&str, &str); 4] = [
    (
        "epoch_common.py",
        include_str!("../../benches/epoch_common.py"),
    ),
    (
        "numpy_epoch.py",
        include_str!("../../benches/numpy_epoch.py"),
    ),
    (
        "torch_epoch.py",
        include_str!("../../benches/torch_epoch.py"),
    ),
    ("jax_epoch.py", include_str!("../../benches/jax_epoch.py")),
];

/// One peer: its name in the table, the module it needs, its script and
/// the script's own options.
struct Peer {
    name: &'static str,
    module: &'static str,
    script: &'static str,
    args: &'static [&'static str],
}

impl Peer {
    fn on_cuda(&self) -> bool {
        self.args.contains(&"cuda")
    }
}

const CPU_PEERS: [Peer; 4] = [
    Peer {
        name: "numpy",
        module: "numpy",
        script: "numpy_epoch.py",
        args: &[],
    },
    Peer {
        name: "torch-eager",
        module: "torch",
        script: "torch_epoch.py",
        args: &["--device", "cpu"],
    },
    Peer {
        name: "torch-compile",
        module: "torch",
        script: "torch_epoch.py",
        args: &["--device", "cpu", "--compile"],
    },
    Peer {
        name: "jax-jit",
        module: "jax",
        script: "jax_epoch.py",
        args: &[],
    },
];

/// Timed next to the gpu backend, where PyTorch has a CUDA device.
const CUDA_PEERS: [Peer; 2] = [
    Peer {
        name: "torch-eager (cuda)",
        module: "torch",
        script: "torch_epoch.py",
        args: &["--device", "cuda"],
    },
    Peer {
        name: "torch-compile (cuda)",
        module: "torch",
        script: "torch_epoch.py",
        args: &["--device", "cuda", "--compile"],
    },
];

/// What the peers need before any case is timed: the interpreter, checked,
/// and the time limit.
pub(super) struct Setup {
    python: PathBuf,
    /// `--peer-timeout`: how long one peer's script may run.
    timeout: Option<Duration>,
}

impl Setup {
    /// Checks `--python` ([`interpreter`]), and that the scripts' folder
    /// can be made (made empty and removed), before anything is timed.
    pub fn new(python: &Path, timeout: Option<Duration>) -> Result<Setup> {
        let python = interpreter(python, timeout)?;
        drop(private_folder()?);
        Ok(Setup { python, timeout })
    }
}

/// A fresh folder of this user's alone (mode 0700, a random name), removed
/// when dropped: nobody else can plant a file or a link where the scripts
/// are written and then run.
fn private_folder() -> Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt as _;
    tempfile::Builder::new()
        .prefix("shadertrain-peers-")
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .context("--peers: could not make a folder for the peers' scripts")
}

/// The scripts, written into a [`private_folder`].
fn scripts() -> Result<tempfile::TempDir> {
    let folder = private_folder()?;
    for (name, text) in SCRIPTS {
        let path = folder.path().join(name);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut file| file.write_all(text.as_bytes()))
            .with_context(|| format!("--peers: could not write {}", path.display()))?;
    }
    Ok(folder)
}

/// What the peers run: the same cases as shadertrain's records.
pub(super) struct Peers<'a> {
    pub setup: &'a Setup,
    pub shapes: &'a [Shape],
    pub activation: &'static str,
    pub samples: usize,
    /// `--warmup`: untimed samples before them (the scripts run at least
    /// one, as `bench` does).
    pub warmup: usize,
    /// `--gpu-batch`: epochs per sample of a CUDA peer, synchronised once,
    /// as the gpu backend's samples are; a CPU peer's samples are single
    /// epochs, as the cpu backend's are.
    pub gpu_batch: usize,
    /// `--threads` (0: every core): each shape's peers get the thread
    /// count the cpu backend takes on it ([`Fast::thread_count`]).
    pub threads: usize,
    /// Whether the gpu backend was timed, so the CUDA peers run as well.
    pub gpu: bool,
}

impl Peers<'_> {
    /// Runs every peer the interpreter can import, in turn; `say` gets a
    /// line per peer and a notice for each one skipped or failed.
    pub fn run(&self, say: &mut dyn FnMut(String)) -> Vec<Record> {
        let cuda = self.gpu && self.has_cuda();
        let peers = CPU_PEERS.iter().chain(CUDA_PEERS.iter().filter(|_| cuda));
        let mut records = Vec::new();
        for peer in peers {
            records.extend(self.run_peer(peer, say));
        }
        records
    }

    /// Whether the interpreter imports `module`; an error when it cannot
    /// be started at all.
    fn probe(&self, module: &str) -> std::io::Result<bool> {
        succeeds(
            &self.setup.python,
            &format!("import {module}"),
            self.setup.timeout,
        )
    }

    fn has_cuda(&self) -> bool {
        let code = "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)";
        succeeds(&self.setup.python, code, self.setup.timeout).unwrap_or(false)
    }

    fn run_peer(&self, peer: &Peer, say: &mut dyn FnMut(String)) -> Vec<Record> {
        let python = self.setup.python.display();
        let skipped = match self.probe(peer.module) {
            Ok(true) => None,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Some(format!("{python} {e}")),
            _ => Some(format!(
                "{python} cannot import {} (pip install {})",
                peer.module, peer.module
            )),
        };
        if let Some(why) = skipped {
            say(format!("notice: peer {} skipped: {why}", peer.name));
            return Vec::new();
        }
        say(format!(
            "peer {}: timing {}",
            peer.name,
            units::count(self.shapes.len(), "shape")
        ));
        // The cpu backend runs a small shape on fewer threads; a CPU
        // peer's script, which sets its thread count as it starts, runs
        // once per count. A CUDA peer runs once, on the largest shape's.
        let most = self.shapes.iter().map(|s| s.n).max().unwrap_or(0);
        let mut groups: Vec<(usize, Vec<Shape>)> = Vec::new();
        for shape in self.shapes {
            let rows = if peer.on_cuda() { most } else { shape.n };
            let threads = Fast::thread_count(self.threads, rows);
            match groups.iter_mut().find(|(t, _)| *t == threads) {
                Some((_, shapes)) => shapes.push(*shape),
                None => groups.push((threads, vec![*shape])),
            }
        }
        let mut records = Vec::new();
        for (threads, shapes) in &groups {
            records.extend(self.run_script(peer, shapes, *threads, say));
        }
        records.sort_by_key(|r| self.shapes.iter().position(|s| s.label() == r.shape));
        records
    }

    /// One run of `peer`'s script on `shapes`, with `threads` threads.
    fn run_script(
        &self,
        peer: &Peer,
        shapes: &[Shape],
        threads: usize,
        say: &mut dyn FnMut(String),
    ) -> Vec<Record> {
        let batch = if peer.on_cuda() { self.gpu_batch } else { 1 };
        let mut command = Command::new(&self.setup.python);
        command
            .arg(peer.script)
            .args(peer.args)
            .args(["--activation", self.activation])
            .args(["--samples", &self.samples.to_string()])
            .args(["--warmup", &self.warmup.to_string()])
            .args(["--batch", &batch.to_string()])
            .args(["--threads", &threads.to_string()])
            .args(shapes.iter().map(|s| s.label()))
            // Tuning variables meant for shadertrain's own tools, which
            // would misconfigure the peers' BLAS.
            .env_remove("OPENBLAS_CORETYPE")
            .env_remove("OPENBLAS_L2_SIZE");
        let (output, others) =
            contention::around(|| script::run(command, self.setup.timeout, scripts));
        let output = match output {
            Ok(o) => o,
            Err(e) => {
                say(format!("notice: peer {} failed to start: {e:#}", peer.name));
                return Vec::new();
            }
        };
        if output.left_out > 0 {
            say(format!(
                "notice: peer {} wrote more than {} MiB to its output; {} later lines left out",
                peer.name,
                script::KEPT >> 20,
                output.left_out
            ));
        }
        let mut records = Vec::new();
        for line in &output.stdout {
            let parsed = match serde_json::from_str::<PeerLine>(line) {
                Ok(parsed) => parsed,
                // The scripts print other text too; a record that does not
                // parse (a NaN time, say) is not dropped silently.
                Err(e) if line.starts_with('{') => {
                    say(format!("notice: peer {}'s line left out: {e}", peer.name));
                    continue;
                }
                Err(_) => continue,
            };
            let Some(shape) = shapes.iter().find(|s| s.label() == parsed.shape) else {
                continue;
            };
            if records.iter().any(|r: &Record| r.shape == parsed.shape) {
                continue;
            }
            if let Some(fault) = parsed.fault(self.activation, self.samples * batch) {
                say(format!(
                    "notice: peer {}'s line for {} left out: {fault}",
                    peer.name, parsed.shape
                ));
                continue;
            }
            let mut record = Record::peer(peer.name, !peer.on_cuda(), parsed, shape);
            record.contention = others;
            let busy = others.and_then(|c| c.clause("its script"));
            say(format!(
                "{} {}: median {:.3e} s/epoch ({} GFLOP/s){}",
                shape.label(),
                peer.name,
                record.median_s,
                crate::units::decimals(record.gflops, 2),
                busy.map_or(String::new(), |b| format!(
                    "; {b}, over its shapes together"
                ))
            ));
            records.push(record);
        }
        let finished = output.status.is_some_and(|s| s.success());
        if !finished || records.len() < shapes.len() {
            let how = match output.status {
                Some(status) => status.to_string(),
                None => format!(
                    "stopped after {} s, its --peer-timeout",
                    crate::optim::short(self.setup.timeout.unwrap_or_default().as_secs_f64())
                ),
            };
            let last = output.last_error.trim();
            let missing: Vec<String> = (shapes.iter())
                .map(Shape::label)
                .filter(|label| records.iter().all(|r| r.shape != *label))
                .collect();
            let not = match missing.is_empty() {
                true => String::new(),
                false => format!(", not {}", missing.join(", ")),
            };
            say(format!(
                "notice: peer {} timed {} of {} shapes{not} ({how}){}",
                peer.name,
                records.len(),
                shapes.len(),
                if last.is_empty() {
                    String::new()
                } else {
                    format!(": {last}")
                }
            ));
        }
        records
    }
}

/// `--python` as the peers run it, having checked that it starts and
/// imports numpy, which every peer needs: made absolute, since the scripts
/// run in a folder of their own; a bare name is looked up on PATH first.
fn interpreter(python: &Path, timeout: Option<Duration>) -> Result<PathBuf> {
    let bare = python.components().count() == 1 && !python.is_absolute();
    // A bare name as PATH finds it, made absolute too (PATH may hold a
    // relative folder).
    let found = match bare {
        true => on_path(python).unwrap_or_else(|| python.to_path_buf()),
        false => python.to_path_buf(),
    };
    let path =
        std::path::absolute(&found).with_context(|| format!("--python {}", python.display()))?;
    let probe = succeeds(&path, "import numpy", timeout);
    let looked_up = match bare {
        true => " (a name without a folder is looked up on PATH)",
        false => "",
    };
    match probe {
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            bail!("--python {}: {e}", python.display())
        }
        Err(e) => bail!(
            "--python {}: cannot run it{looked_up}: {e}; --peers needs a Python interpreter with numpy (and torch, jax for those peers)",
            python.display()
        ),
        Ok(false) => bail!(
            "--python {}: it cannot import numpy, which every peer needs (pip install numpy torch jax), or it is not a Python interpreter",
            python.display()
        ),
        Ok(true) => Ok(path),
    }
}

/// Whether `python -c code` exits 0, its output dropped; an error when the
/// interpreter cannot be started at all, or (of kind TimedOut) when it has
/// not exited by `timeout`, `--peer-timeout`, and is killed.
fn succeeds(python: &Path, code: &str, timeout: Option<Duration>) -> std::io::Result<bool> {
    let mut child = Command::new(python)
        .args(["-c", code])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let Some(limit) = timeout else {
        return Ok(child.wait()?.success());
    };
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status.success());
        }
        let waited = start.elapsed();
        if waited >= limit {
            // Killed and reaped; an exit meanwhile is as good as the kill.
            let _ = child.kill();
            child.wait()?;
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "did not finish `{code}` within --peer-timeout {} s",
                    crate::optim::short(limit.as_secs_f64())
                ),
            ));
        }
        std::thread::sleep((limit - waited).min(Duration::from_millis(10)));
    }
}

/// The first file named `name` in a folder of PATH that may be executed.
fn on_path(name: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|folder| folder.join(name))
        .find(|file| {
            std::fs::metadata(file)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}
