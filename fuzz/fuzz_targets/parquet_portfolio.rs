//! Bytes → one Parquet table of a portfolio folder (the first byte picks the table, core or
//! lifecycle; the other tables stay CSV), read with `read_portfolio`, `read_lifecycle` and
//! `read_extensions`.
#![no_main]

use arrears_fuzz::{Folder, read_and_check, split};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static FOLDER: OnceLock<Folder> = OnceLock::new();

fuzz_target!(
    init: {
        // arrears-io turns a panic inside the arrow/parquet decoder into an error naming the
        // file (`read::decoding`): libfuzzer-sys's hook aborts on every panic, caught or not,
        // so the default hook is put back. A panic that escapes the target still aborts
        // (libfuzzer-sys catches it and aborts) and is kept as a crash.
        drop(std::panic::take_hook());
        // `ARREARS_FUZZ_PARQUET_SEEDS=DIR`: write the seed corpus (the base tables converted
        // to Parquet) first; bench/fuzz.sh does so with `-runs=0`.
        if let Some(dir) = std::env::var_os("ARREARS_FUZZ_PARQUET_SEEDS") {
            let n = arrears_fuzz::write_parquet_seeds(std::path::Path::new(&dir))
                .expect("parquet seeds");
            eprintln!("wrote {n} parquet seeds");
        }
    },
    |data: &[u8]| {
    let Some((ix, bytes)) = split(data) else {
        return;
    };
    let folder = FOLDER.get_or_init(Folder::new);
    // Rows of a Parquet table are numbered from 1, CSV lines from 2: the fuzzed table is
    // Parquet, the others CSV, so only the weaker bound holds for all rejects.
    folder.with_table(ix, "parquet", bytes, |dir| read_and_check(dir, false));
}
);
