//! The `ssh` command lines: the options every process of a connection gets, and what a
//! master, a session and a control command (`-O`) add to them.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use sshrace_core::ConnectOptions;

/// Whole seconds, rounded up (OpenSSH options take seconds; 0 would mean off).
pub(crate) fn ceil_secs(duration: Duration) -> u64 {
    let secs = duration.as_secs();
    if duration.subsec_nanos() > 0 {
        secs + 1
    } else {
        secs
    }
    .max(1)
}

/// The `ssh` options every process of a connection gets: no user config, the run's key only,
/// no prompts, no host key pinning, the connection's timeouts.
pub(crate) fn common_args(
    key_file: &Path,
    addr: SocketAddr,
    options: &ConnectOptions,
) -> Vec<String> {
    let mut args: Vec<String> = [
        "-F",
        "/dev/null",
        "-T",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=INFO",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "IdentityAgent=none",
        "-o",
        "PasswordAuthentication=no",
        "-o",
        "KbdInteractiveAuthentication=no",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push("-i".into());
    args.push(key_file.display().to_string());
    if let Some(limit) = options.connect_timeout.filter(|d| !d.is_zero()) {
        args.push("-o".into());
        args.push(format!("ConnectTimeout={}", ceil_secs(limit)));
    }
    let interval = options
        .server_alive_interval
        .filter(|d| !d.is_zero())
        .map_or(0, ceil_secs);
    args.push("-o".into());
    args.push(format!("ServerAliveInterval={interval}"));
    args.push("-o".into());
    args.push(format!(
        "ServerAliveCountMax={}",
        options.server_alive_count_max
    ));
    args.push("-p".into());
    args.push(addr.port().to_string());
    args.push("-l".into());
    args.push(options.identity.clone());
    args
}

/// What a master adds to [`common_args`]: `-N -M -S <socket>`, `ControlPersist` (`no`, or
/// whole seconds, when the `ssh` started backgrounds the master and its log goes to `log` via
/// `-E`), `ExitOnForwardFailure=yes`, then the address.
pub(crate) fn master_args(
    socket: &Path,
    persist: Option<Duration>,
    log: &Path,
    addr: SocketAddr,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["-N".into(), "-M".into(), "-S".into(), socket.into()];
    args.push("-o".into());
    args.push(
        match persist {
            Some(persist) => format!("ControlPersist={}", ceil_secs(persist)),
            None => "ControlPersist=no".to_owned(),
        }
        .into(),
    );
    args.push("-o".into());
    args.push("ExitOnForwardFailure=yes".into());
    if persist.is_some() {
        args.push("-E".into());
        args.push(log.into());
    }
    args.push(addr.ip().to_string().into());
    args
}

/// What a session adds to [`common_args`]: its master's socket, no master of its own, the
/// address and the remote command.
pub(crate) fn session_args(socket: &Path, addr: SocketAddr, command: &str) -> Vec<OsString> {
    vec![
        "-S".into(),
        socket.into(),
        "-o".into(),
        "ControlMaster=no".into(),
        addr.ip().to_string().into(),
        "--".into(),
        command.into(),
    ]
}

/// What `ssh -O <operation>` (`check`, `exit`, `stop`) adds to [`common_args`].
pub(crate) fn control_args(socket: &Path, operation: &str, addr: SocketAddr) -> Vec<OsString> {
    vec![
        "-S".into(),
        socket.into(),
        "-O".into(),
        operation.into(),
        addr.ip().to_string().into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_up() {
        assert_eq!(ceil_secs(Duration::from_millis(1500)), 2);
        assert_eq!(ceil_secs(Duration::from_secs(3)), 3);
        assert_eq!(ceil_secs(Duration::from_millis(10)), 1);
    }

    fn strings(args: &[OsString]) -> Vec<&str> {
        args.iter().map(|a| a.to_str().unwrap()).collect()
    }

    #[test]
    fn every_process_gets_the_connections_options() {
        let addr: SocketAddr = "127.0.0.1:32768".parse().unwrap();
        let options = ConnectOptions {
            connect_timeout: Some(Duration::from_millis(2500)),
            server_alive_interval: Some(Duration::from_secs(1)),
            server_alive_count_max: 2,
            identity: "root".to_owned(),
            ..ConnectOptions::default()
        };
        let args = common_args(Path::new("/tmp/sshrace-1-0/id"), addr, &options);
        assert_eq!(
            args.join(" "),
            "-F /dev/null -T -o BatchMode=yes -o StrictHostKeyChecking=no \
             -o UserKnownHostsFile=/dev/null -o GlobalKnownHostsFile=/dev/null -o LogLevel=INFO \
             -o IdentitiesOnly=yes -o IdentityAgent=none -o PasswordAuthentication=no \
             -o KbdInteractiveAuthentication=no -i /tmp/sshrace-1-0/id -o ConnectTimeout=3 \
             -o ServerAliveInterval=1 -o ServerAliveCountMax=2 -p 32768 -l root"
        );
        // No connect timeout (or a zero one): no ConnectTimeout; no keepalive: interval 0 (off).
        let off = ConnectOptions {
            connect_timeout: Some(Duration::ZERO),
            server_alive_interval: None,
            server_alive_count_max: 3,
            identity: "deploy".to_owned(),
            ..ConnectOptions::default()
        };
        let args = common_args(Path::new("/w/id"), addr, &off);
        assert!(
            !args.iter().any(|a| a.starts_with("ConnectTimeout")),
            "{args:?}"
        );
        assert_eq!(
            args[args.len() - 8..].join(" "),
            "-o ServerAliveInterval=0 -o ServerAliveCountMax=3 -p 32768 -l deploy"
        );
    }

    #[test]
    fn master_session_and_control_command_lines() {
        let addr: SocketAddr = "127.0.0.1:32768".parse().unwrap();
        let socket = Path::new("/tmp/sshrace-1-0/c0.sock");
        let log = Path::new("/tmp/sshrace-1-0/c0.log");
        assert_eq!(
            strings(&master_args(socket, None, log, addr)).join(" "),
            "-N -M -S /tmp/sshrace-1-0/c0.sock -o ControlPersist=no -o ExitOnForwardFailure=yes 127.0.0.1"
        );
        assert_eq!(
            strings(&master_args(
                socket,
                Some(Duration::from_millis(1200)),
                log,
                addr
            ))
            .join(" "),
            "-N -M -S /tmp/sshrace-1-0/c0.sock -o ControlPersist=2 -o ExitOnForwardFailure=yes \
             -E /tmp/sshrace-1-0/c0.log 127.0.0.1"
        );
        assert_eq!(
            strings(&session_args(socket, addr, "sshrace-cmd 7 60000")),
            [
                "-S",
                "/tmp/sshrace-1-0/c0.sock",
                "-o",
                "ControlMaster=no",
                "127.0.0.1",
                "--",
                "sshrace-cmd 7 60000"
            ]
        );
        assert_eq!(
            strings(&control_args(socket, "stop", addr)).join(" "),
            "-S /tmp/sshrace-1-0/c0.sock -O stop 127.0.0.1"
        );
    }
}
