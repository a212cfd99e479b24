//! Release builds embed suites/ and specs/ (src/suite/builtin.rs); cargo sees edits to the files
//! embedded, but not a file added, so a release build is redone when either folder changes.
//! Debug builds read the folders live and need no rebuild for either.
fn main() {
    if std::env::var("PROFILE").as_deref() == Ok("release") {
        println!("cargo:rerun-if-changed=suites");
        println!("cargo:rerun-if-changed=specs");
    } else {
        println!("cargo:rerun-if-changed=build.rs");
    }
}
