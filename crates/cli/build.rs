//! Link `aulos` with packed relative relocations (`-z pack-relative-relocs`, DT_RELR)
//! when the toolchain supports it.
//!
//! A position-independent Rust binary carries one 24-byte `R_X86_64_RELATIVE` entry
//! per pointer in its read-only data (vtables, string and slice pointers): 350 kB of
//! `.rela.dyn` in the `dist` build. The dynamic loader reads every entry at start-up,
//! so all of it becomes resident in every process, the player included (whose RSS
//! goal is 12 MB; docs/performance.md). DT_RELR packs the same relocations into
//! bitmaps of a few kB. It needs GNU ld ≥ 2.38 or lld ≥ 15 and glibc ≥ 2.36 at run
//! time, so the flag is probed here: the linker must accept it for a trivial C
//! program that also runs. Otherwise the binary is linked as before.

use std::io::Write;
use std::process::{Command, Stdio};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=AULOS_NO_RELR");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    let target = std::env::var("TARGET").unwrap_or_default();
    if target_os != "linux"
        || target_env != "gnu"
        || host != target
        || std::env::var_os("AULOS_NO_RELR").is_some()
    {
        return;
    }
    if relr_links_and_runs() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
        // Lets `tests/binary.rs` check that the flag took effect.
        println!("cargo:rustc-env=AULOS_RELR=1");
    }
}

/// Whether `cc` links a PIE with DT_RELR without a warning and the result runs.
fn relr_links_and_runs() -> bool {
    let Some(out_dir) = std::env::var_os("OUT_DIR") else {
        return false;
    };
    let exe = std::path::Path::new(&out_dir).join("relr-probe");
    let child = Command::new("cc")
        .args([
            "-x",
            "c",
            "-",
            "-pie",
            "-fPIE",
            "-Wl,-z,pack-relative-relocs",
            "-o",
        ])
        .arg(&exe)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        return false;
    };
    // A pointer in initialised data, so the probe really has a relative relocation.
    let source = b"static const char *p = \"x\"; int main(void) { return p[0] == 'x' ? 0 : 1; }\n";
    if let Some(mut stdin) = child.stdin.take()
        && stdin.write_all(source).is_err()
    {
        return false;
    }
    let Ok(output) = child.wait_with_output() else {
        return false;
    };
    // GNU ld before 2.38 only warns about an unknown `-z` option.
    if !output.status.success() || !output.stderr.is_empty() {
        return false;
    }
    Command::new(&exe)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}
