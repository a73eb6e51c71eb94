//! Gives the shared library an ELF SONAME carrying the major version
//! (`libdremioorch.so.0` for 0.x.y), so a program linked against one release
//! keeps loading any later release of the same major version.
//! `scripts/install.sh` installs the file as `libdremioorch.so.MAJOR.MINOR.PATCH`
//! with the `libdremioorch.so.MAJOR` and `libdremioorch.so` links.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let major =
        std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets CARGO_PKG_VERSION_MAJOR");
    let family = std::env::var("CARGO_CFG_TARGET_FAMILY").unwrap_or_default();
    let vendor = std::env::var("CARGO_CFG_TARGET_VENDOR").unwrap_or_default();
    if vendor == "apple" {
        println!(
            "cargo:rustc-cdylib-link-arg=-Wl,-install_name,@rpath/libdremioorch.{major}.dylib"
        );
    } else if family.split(',').any(|f| f == "unix") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libdremioorch.so.{major}");
    }
}
