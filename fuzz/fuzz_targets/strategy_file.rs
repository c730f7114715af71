//! Bytes → `Strategy::parse` (the TOML decision table and its templates). A parsed
//! strategy is exercised the way the planner uses it: its bands checked against the
//! default configuration, an arm chosen for some loan ids and each template rendered.
#![no_main]

use arrears_domain::Bands;
use arrears_strategy::{MessageVars, Strategy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let s = match Strategy::parse(text) {
        Ok(s) => s,
        Err(errors) => {
            assert!(!errors.is_empty(), "a refused strategy names no error");
            for e in &errors {
                assert!(!e.to_string().is_empty(), "an error without a message");
            }
            return;
        }
    };
    let _ = s.check_bands(&Bands::default_stages(), &Bands::default_buckets());
    let vars = MessageVars {
        borrower_name: "Ann Lee".into(),
        amount: "$123.45".into(),
        due_date: "2026-11-01".into(),
        dpd: "12".into(),
        loan_id: "L-1".into(),
        lender_name: s.lender_name.clone(),
        verification_code: "ABCD-1234".into(),
        opt_out: "Reply STOP to opt out.".into(),
        complaint_hotline: String::new(),
    };
    for r in &s.rules {
        let total: u32 = r.arms.iter().map(|a| u32::from(a.percent)).sum();
        assert_eq!(total, 100, "rule {}: arms add up to {total}", r.id);
        for loan in ["L-1", "L-US-VA1", "", "贷款-9"] {
            let arm = r.arm_for(loan);
            let _ = r.template_for(arm);
        }
    }
    let ids: Vec<String> = s.templates.ids().map(str::to_owned).collect();
    for id in &ids {
        for lang in s.templates.languages(id) {
            if let Some(t) = s.templates.get(id, lang) {
                let _ = s.templates.render(t, &vars);
            }
        }
    }
});
