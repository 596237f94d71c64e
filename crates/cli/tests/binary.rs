//! The `aulos` binary itself: it starts, and it is linked as `build.rs` intends.

use std::process::Command;

const AULOS: &str = env!("CARGO_BIN_EXE_aulos");

#[test]
fn the_binary_starts_and_lists_its_commands() {
    let out = Command::new(AULOS)
        .arg("--help")
        .output()
        .expect("aulos runs");
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("serve") && help.contains("play"), "{help}");
}

/// With packed relative relocations (DT_RELR) the loader no longer reads a `.rela.dyn`
/// of hundreds of kB at every start, all of which stayed resident in the player
/// (docs/performance.md, "Player alone").
#[test]
fn relative_relocations_are_packed_when_the_toolchain_supports_it() {
    if option_env!("AULOS_RELR").is_none() {
        eprintln!("skipped: build.rs found no DT_RELR support in this toolchain");
        return;
    }
    let Ok(out) = Command::new("readelf")
        .args(["-W", "-d", "-S", AULOS])
        .output()
    else {
        eprintln!("skipped: no readelf");
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("(RELR)"), "no DT_RELR entry:\n{text}");
    // `[ 9] .rela.dyn  RELA  address offset size ...`: what is left unpacked (symbol
    // relocations) is a few kB.
    let rela = text
        .lines()
        .find(|l| l.contains(".rela.dyn"))
        .and_then(|l| l.split(']').nth(1))
        .and_then(|l| l.split_whitespace().nth(4))
        .and_then(|size| usize::from_str_radix(size, 16).ok())
        .unwrap_or(0);
    assert!(rela < 64 << 10, ".rela.dyn is {rela} bytes");
}
