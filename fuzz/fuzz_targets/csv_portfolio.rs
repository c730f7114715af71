//! Bytes → one CSV table of a portfolio folder (the first byte picks the table, core or
//! lifecycle), read with `read_portfolio`, `read_lifecycle` and `read_extensions`.
#![no_main]

use arrears_fuzz::{Folder, read_and_check, split};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static FOLDER: OnceLock<Folder> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Some((ix, bytes)) = split(data) else {
        return;
    };
    let folder = FOLDER.get_or_init(Folder::new);
    folder.with_table(ix, "csv", bytes, |dir| read_and_check(dir, true));
});
