//! Links GCC's unwinder into the Linux binaries instead of loading `libgcc_s.so.1` at every start.
//!
//! Rust's standard library asks for `-lgcc_s` on `*-linux-gnu` unless the whole program is linked
//! statically (`+crt-static`), and offers no switch for the unwinder alone (rust-lang/rust#29527).
//! Loading that one library (opening and mapping it, binding its symbols, its constructor probing
//! the CPU, each probe a trap into the hypervisor on a virtual machine) was 0.11-0.28 ms of the
//! 1.4-1.7 ms a check on one PEM file took (BENCHMARKS.md, fifth round), and the check is spawned
//! every few minutes for every server. So a linker script named `libgcc_s.so`, found before the
//! system's, stands for GCC's static unwinder and support library: what `gcc -static-libgcc`
//! links. The binaries then need `libc.so.6` alone. Windows and static builds already link them so.

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target_os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let target_env = env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let features = env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let static_build = features.split(',').any(|feature| feature == "crt-static");
    if target_os != "linux" || target_env != "gnu" || static_build {
        return;
    }
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(
        out_dir.join("libgcc_s.so"),
        "/* exchange-authcert build.rs: GCC's unwinder, linked statically */\n\
         GROUP ( -lgcc_eh -lgcc )\n",
    )
    .expect("writing the libgcc_s.so linker script into OUT_DIR");
    println!("cargo:rustc-link-search=native={}", out_dir.display());
}
