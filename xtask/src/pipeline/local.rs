//! `--engine local`: the job on the Go of this machine instead of in Dagger.

use std::ffi::OsString;
use std::path::Path;

use super::job::Job;
use crate::exec::PlannedCommand;
use crate::version::Version;

/// The same job with the Go on this machine. GOTOOLCHAIN makes that Go run (or fetch) the
/// pinned release, so local results match the pipeline's.
pub fn local_command(root: &Path, job: &Job, go: Version) -> PlannedCommand {
    let toolchain = ("GOTOOLCHAIN", format!("go{go}"));
    let (args, env): (Vec<OsString>, _) = match job {
        Job::Build { out } => {
            // With a trailing slash `-o` is always a directory, even for a single binary.
            let mut dir = out.clone().into_os_string();
            if !dir.as_encoded_bytes().ends_with(b"/") {
                dir.push("/");
            }
            let args = vec![
                "build".into(),
                "-trimpath".into(),
                "-o".into(),
                dir,
                "./cmd/...".into(),
            ];
            (args, vec![toolchain, ("CGO_ENABLED", "0".to_owned())])
        }
        Job::Test => (vec!["test".into(), "./...".into()], vec![toolchain]),
    };
    PlannedCommand {
        program: "go",
        args,
        dir: root.join("app"),
        env,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_commands() {
        let go = Version::new(1, 26, 8);
        let build = local_command(
            Path::new("/w"),
            &Job::Build {
                out: "/w/bin".into(),
            },
            go,
        );
        assert_eq!(
            build.to_string(),
            "cd /w/app && GOTOOLCHAIN=go1.26.8 CGO_ENABLED=0 go build -trimpath -o /w/bin/ ./cmd/..."
        );
        let test = local_command(Path::new("/w"), &Job::Test, go);
        assert_eq!(
            test.to_string(),
            "cd /w/app && GOTOOLCHAIN=go1.26.8 go test ./..."
        );
    }
}
