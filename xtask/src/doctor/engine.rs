//! What `dagger` connects to: the engine named by `_EXPERIMENTAL_DAGGER_RUNNER_HOST`, or else
//! one it starts in the first container runtime on PATH.
//!
//! The rules are those of the pinned Dagger, 0.21.8 (engine/client/drivers): the default host
//! is `image://registry.dagger.io/engine:v<version>`, and the `image` and `container` schemes
//! try docker, Apple's `container`, podman, finch and nerdctl in that order, taking the first
//! on PATH and asking it `version` (`container system status`). When that one does not answer,
//! Dagger fails: it does not go on to the next. A remote engine that does not answer is worse:
//! dagger retries it for up to ten minutes, so every check here has a deadline of seconds.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::time::Duration;

use super::finding::{Finding, Status};
use super::probe::{self, Probe, RUNTIME_DEADLINE};

pub const RUNNER_HOST_VAR: &str = "_EXPERIMENTAL_DAGGER_RUNNER_HOST";

/// How long a connection to a remote engine may take to open.
const CONNECT_DEADLINE: Duration = Duration::from_secs(3);

/// A container runtime Dagger can start its engine in.
struct Runtime {
    program: &'static str,
    /// What Dagger runs to see whether it answers.
    probe: &'static [&'static str],
    /// Its name in the `image+<name>://` and `container+<name>://` schemes.
    scheme: &'static str,
    /// How to start it when it does not answer.
    start: &'static str,
}

/// In Dagger's order.
static RUNTIMES: [Runtime; 5] = [
    Runtime {
        program: "docker",
        probe: &["version"],
        scheme: "docker",
        start: "start Docker (Docker Desktop, or `sudo systemctl start docker`)",
    },
    Runtime {
        program: "container",
        probe: &["system", "status"],
        scheme: "apple",
        start: "container system start",
    },
    Runtime {
        program: "podman",
        probe: &["version"],
        scheme: "podman",
        start: "podman machine start (or see `podman info` on Linux)",
    },
    Runtime {
        program: "finch",
        probe: &["version"],
        scheme: "finch",
        start: "finch vm start",
    },
    Runtime {
        program: "nerdctl",
        probe: &["version"],
        scheme: "nerdctl",
        start: "start containerd (`sudo systemctl start containerd`)",
    },
];

const SCHEMES: &str = "tcp, unix, ssh, tls, kube-pod, image, container, docker-image, \
                       docker-container, dagger-cloud";

/// The `engine` line. `needed`: the build at hand runs on Dagger (or stops before it
/// could), so an engine that cannot be reached is a `fail`.
pub fn check(needed: bool) -> Finding {
    // Set but empty counts as not set, as for dagger.
    let finding = match std::env::var_os(RUNNER_HOST_VAR).filter(|host| !host.is_empty()) {
        Some(host) => runner_host(&host.to_string_lossy(), needed),
        None => first_runtime(&all_runtimes(), "Dagger starts its engine there", needed),
    };
    if needed {
        finding
    } else {
        finding.unused(" (not used: the build runs on the local Go)")
    }
}

/// What can be checked of the engine at `host` without speaking Dagger's protocol.
fn runner_host(host: &str, needed: bool) -> Finding {
    let problem = Status::problem(needed);
    let Some((scheme, address)) = host.split_once("://") else {
        let finding = Finding::new(problem, "engine", "not SCHEME://ADDRESS; dagger refuses it")
            .fix(format!(
                "set {RUNNER_HOST_VAR}=tcp://HOST:PORT, or unset it"
            ));
        return named(finding, host);
    };
    let pinned_engine = "whether a Dagger engine of the pinned version listens there";
    let finding = match scheme {
        "tcp" => remote(address, connect_tcp(address), pinned_engine, needed),
        "tls" => remote(
            address,
            connect_tcp(address),
            "the TLS handshake and the engine behind it",
            needed,
        ),
        "ssh" => {
            let target = ssh_target(address);
            let unchecked = "the ssh login and the engine behind it";
            remote(&target, connect_tcp(&target), unchecked, needed)
        }
        "unix" => remote(address, connect_unix(address), pinned_engine, needed),
        "kube-pod" => kube_pod(needed),
        "dagger-cloud" => Finding::warn("engine", "a Dagger Cloud engine; not checked"),
        _ => match runtimes_for(scheme) {
            Some((kind, candidates)) => {
                first_runtime(&candidates, &engine_note(kind, address), needed)
            }
            None => Finding::warn(
                "engine",
                format!("scheme {scheme} not checked (Dagger 0.21.8 knows {SCHEMES})"),
            ),
        },
    };
    named(finding, host)
}

/// A remote engine at `address`, and what `connected` says of it.
fn remote(address: &str, connected: Result<(), String>, unchecked: &str, needed: bool) -> Finding {
    match connected {
        Ok(()) => Finding::ok(
            "engine",
            format!("{address} accepts a connection; not checked: {unchecked}"),
        ),
        Err(err) => Finding::new(
            Status::problem(needed),
            "engine",
            format!("does not answer ({err}); dagger would retry it for up to 10 minutes"),
        )
        .fix(format!(
            "start the engine there, or unset {RUNNER_HOST_VAR} to let Dagger start one in a \
             local container runtime"
        )),
    }
}

/// `kube-pod://`: dagger runs `kubectl exec` into the pod.
fn kube_pod(needed: bool) -> Finding {
    match probe::run("kubectl", &["version", "--client"], &[], RUNTIME_DEADLINE) {
        Probe::Answered(answer) if answer.success => Finding::warn(
            "engine",
            "kubectl answers; not checked: the pod and the engine in it",
        ),
        _ => Finding::new(
            Status::problem(needed),
            "engine",
            "dagger reaches the pod with kubectl, which is not on PATH or does not run",
        )
        .fix("install kubectl"),
    }
}

/// The runtimes a scheme that goes through one may use, and whether it names an engine
/// `image` to start or a running `container`.
fn runtimes_for(scheme: &str) -> Option<(&'static str, Vec<&'static Runtime>)> {
    let docker = || vec![&RUNTIMES[0]];
    match scheme {
        "image" => Some(("image", all_runtimes())),
        "container" => Some(("container", all_runtimes())),
        "docker-image" => Some(("image", docker())),
        "docker-container" => Some(("container", docker())),
        _ => {
            let (kind, name) = scheme.split_once('+')?;
            let kind = ["image", "container"].into_iter().find(|k| *k == kind)?;
            let runtime = RUNTIMES.iter().find(|runtime| runtime.scheme == name)?;
            Some((kind, vec![runtime]))
        }
    }
}

fn all_runtimes() -> Vec<&'static Runtime> {
    RUNTIMES.iter().collect()
}

/// `finding` about the runner host `host`, saying so.
fn named(finding: Finding, host: &str) -> Finding {
    Finding {
        found: format!("{RUNNER_HOST_VAR}={host}: {}", finding.found),
        ..finding
    }
}

/// What is left unchecked when a runtime answers.
fn engine_note(kind: &str, address: &str) -> String {
    if kind.ends_with("container") {
        format!("Dagger connects to the engine container {address} there (not checked)")
    } else {
        format!("Dagger starts the engine image {address} there")
    }
}

/// The first of `candidates` on PATH, asked what Dagger asks it.
fn first_runtime(candidates: &[&Runtime], then: &str, needed: bool) -> Finding {
    let problem = Status::problem(needed);
    for runtime in candidates {
        let command = format!("{} {}", runtime.program, runtime.probe.join(" "));
        let failed = |why: String| {
            let found = if candidates.len() > 1 {
                format!("{why}; Dagger takes the first runtime on PATH and stops at this one")
            } else {
                why
            };
            Finding::new(problem, "engine", found).fix(runtime.start)
        };
        return match probe::run(runtime.program, runtime.probe, &[], RUNTIME_DEADLINE) {
            Probe::NotFound => continue,
            Probe::Answered(answer) if answer.success => {
                Finding::ok("engine", format!("`{command}` answers; {then}"))
            }
            Probe::Answered(answer) => failed(format!("`{command}` fails: {}", answer.complaint())),
            Probe::TimedOut => failed(format!(
                "`{command}` did not answer within {} s",
                RUNTIME_DEADLINE.as_secs()
            )),
            Probe::CannotRun(err) => failed(format!("cannot run {}: {err}", runtime.program)),
        };
    }
    let names: Vec<&str> = candidates.iter().map(|runtime| runtime.program).collect();
    let found = match names[..] {
        [one] => format!("{one} is not on PATH"),
        _ => format!(
            "no container runtime on PATH ({}) and {RUNNER_HOST_VAR} is not set",
            names.join(", ")
        ),
    };
    Finding::new(problem, "engine", found).fix(format!(
        "install and start Docker or Podman, or set {RUNNER_HOST_VAR}=tcp://HOST:PORT to a running engine"
    ))
}

/// `host:port` of `[user@]host[:port][/path]`, with ssh's port 22 by default.
fn ssh_target(address: &str) -> String {
    let authority = address.split('/').next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let port_given = match host.strip_prefix('[') {
        Some(bracketed) => bracketed
            .split_once(']')
            .is_some_and(|(_, rest)| rest.starts_with(':')),
        None => host.contains(':'),
    };
    if port_given {
        host.to_owned()
    } else {
        format!("{host}:22")
    }
}

/// Opens (and closes) a TCP connection to `address` (`host:port`), name lookup included,
/// within [`CONNECT_DEADLINE`].
fn connect_tcp(address: &str) -> Result<(), String> {
    let address = address.to_owned();
    within(CONNECT_DEADLINE, move || {
        let addrs: Vec<SocketAddr> = address
            .to_socket_addrs()
            .map_err(|err| format!("cannot resolve {address}: {err}"))?
            .collect();
        let mut last = format!("{address} has no address");
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, CONNECT_DEADLINE) {
                Ok(_) => return Ok(()),
                Err(err) if err.kind() == std::io::ErrorKind::TimedOut => {
                    last = format!(
                        "no answer from {addr} within {} s",
                        CONNECT_DEADLINE.as_secs()
                    );
                }
                Err(err) => last = format!("{addr}: {err}"),
            }
        }
        Err(last)
    })
}

fn connect_unix(path: &str) -> Result<(), String> {
    let path = path.to_owned();
    within(CONNECT_DEADLINE, move || {
        UnixStream::connect(&path)
            .map(drop)
            .map_err(|err| format!("{path}: {err}"))
    })
}

/// `work` on a thread of its own, given up after `deadline` (a name lookup cannot be
/// interrupted, and may hang).
fn within(
    deadline: Duration,
    work: impl FnOnce() -> Result<(), String> + Send + 'static,
) -> Result<(), String> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = send.send(work());
    });
    receive
        .recv_timeout(deadline + Duration::from_millis(500))
        .unwrap_or_else(|_| Err(format!("no answer within {} s", deadline.as_secs())))
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn ssh_targets_default_to_port_22() {
        assert_eq!(ssh_target("build-box"), "build-box:22");
        assert_eq!(ssh_target("me@build-box"), "build-box:22");
        assert_eq!(ssh_target("me@build-box:2222"), "build-box:2222");
        assert_eq!(
            ssh_target("me@build-box:2222/run/dagger.sock"),
            "build-box:2222"
        );
        assert_eq!(ssh_target("[::1]:2222"), "[::1]:2222");
        assert_eq!(ssh_target("[::1]"), "[::1]:22");
    }

    #[test]
    fn tcp_connects_or_says_why_not() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap().to_string();
        assert_eq!(connect_tcp(&open), Ok(()));
        drop(listener);
        let err = connect_tcp(&open).unwrap_err();
        assert!(err.contains(&open), "{err}");
        assert!(connect_tcp("not an address").is_err());
    }

    #[test]
    fn unix_sockets_connect_or_say_why_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("engine.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        assert_eq!(connect_unix(path.to_str().unwrap()), Ok(()));
        drop(listener);
        std::fs::remove_file(&path).unwrap();
        let err = connect_unix(path.to_str().unwrap()).unwrap_err();
        assert!(err.contains("engine.sock"), "{err}");
    }

    #[test]
    fn slow_work_is_given_up() {
        let started = std::time::Instant::now();
        let result = within(Duration::from_millis(100), || {
            std::thread::sleep(Duration::from_secs(5));
            Ok(())
        });
        assert!(result.unwrap_err().starts_with("no answer within"));
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
