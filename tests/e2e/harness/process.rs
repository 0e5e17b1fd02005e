//! The real `sees` binary as a child process, its output collected as it is written: for the tests
//! that need signals, the CLI's printed output or the log itself.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::sees_binary;

/// A running `sees` whose stderr (the log) and stdout are collected line by line.
pub struct SeesProcess {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    stdout: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
}

impl SeesProcess {
    /// Starts `sees ARGS` in `dir` with `env` (set after `SEES_MASTER_KEY` and `RUST_LOG` are cleared).
    pub fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> SeesProcess {
        let mut command = Command::new(sees_binary());
        command
            .current_dir(dir)
            .args(args)
            .env_remove("SEES_MASTER_KEY")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("starting sees");
        let log = Arc::new(Mutex::new(Vec::new()));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stderr.take().expect("piped stderr"), Arc::clone(&log)),
            collect(
                child.stdout.take().expect("piped stdout"),
                Arc::clone(&stdout),
            ),
        ];
        SeesProcess {
            child,
            log,
            stdout,
            readers,
        }
    }

    /// Waits up to 60 s for a log line containing `needle`; that line. Panics when sees exits first.
    pub fn wait_for(&mut self, needle: &str) -> String {
        let started = Instant::now();
        loop {
            if let Some(line) = self.log.lock().unwrap().iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("sees exited ({status}):\n{}", self.log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no {needle:?} in:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The address announced by the first log line containing `listener` (text or JSON log).
    pub fn addr(&mut self, listener: &str) -> SocketAddr {
        let line = self.wait_for(listener);
        let text = match serde_json::from_str::<Value>(&line) {
            Ok(event) => event["fields"]["addr"]
                .as_str()
                .or_else(|| event["addr"].as_str())
                .map(str::to_owned),
            Err(_) => line
                .split("addr=")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .map(str::to_owned),
        };
        text.and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
    }

    /// The log (stderr) so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// What sees printed on stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().join("\n")
    }

    /// Sends the signal `name` (`HUP`, `TERM`, …).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} failed");
    }

    /// SIGTERM, then whether sees exited with status 0 within 15 s (it is killed otherwise). Its whole
    /// output is collected by the time this returns.
    pub fn terminate(&mut self) -> bool {
        self.signal("TERM");
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > Duration::from_secs(15) {
                let _ = self.child.kill();
                break self.child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The readers end with the pipes, after the last line.
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        status.success()
    }
}

impl Drop for SeesProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A thread appending each line of `pipe` to `sink` until the pipe closes.
fn collect(pipe: impl Read + Send + 'static, sink: Arc<Mutex<Vec<String>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    })
}
