//! Times the phases of a daily run over a portfolio folder (read, compute, write), for
//! profiling: `cargo run --release -p arrears-io --example phases -- DIR 2026-11-28 OUT`.

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (dir, as_of, out) = match args.as_slice() {
        [_, d, a, o] => (d, a, o),
        _ => return Err("usage: phases PORTFOLIO_DIR YYYY-MM-DD OUT_DIR".into()),
    };
    let as_of: jiff::civil::Date = as_of.parse()?;
    let cfg = arrears_domain::Config::default();
    let t = Instant::now();
    let last = std::sync::Mutex::new((String::new(), Instant::now()));
    let read = arrears_io::read_portfolio(std::path::Path::new(dir), &|table, rows| {
        if let Ok(mut l) = last.lock() {
            if l.0 != table.name() {
                eprintln!(
                    "  {:>8.3} s  start {}",
                    t.elapsed().as_secs_f64(),
                    table.name()
                );
                *l = (table.name().to_owned(), Instant::now());
            }
            let _ = rows;
        }
    })?;
    eprintln!(
        "read     {:>8.3} s  ({} loans, {} installments, {} payments, {} rejects)",
        t.elapsed().as_secs_f64(),
        read.portfolio.loans.len(),
        read.portfolio.installments.len(),
        read.portfolio.payments.len(),
        read.rejects.len()
    );
    let t = Instant::now();
    let states = arrears_engine::run_day(&read.portfolio, as_of, &cfg)?;
    eprintln!("compute  {:>8.3} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    std::fs::create_dir_all(out)?;
    let order = arrears_io::write::loan_order(&read.portfolio);
    arrears_io::write::write_accounts_parquet(
        &std::path::Path::new(out).join("accounts.parquet"),
        &read.portfolio,
        &states,
        &order,
        as_of,
        &cfg,
    )?;
    eprintln!("write    {:>8.3} s", t.elapsed().as_secs_f64());
    Ok(())
}
