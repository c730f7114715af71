//! `arrears demo` as a newcomer meets it: a real process that builds a store from a sample
//! portfolio, serves it, and prints where to log in; the test logs in as the agent and the
//! supervisor (the agent also in headless Chromium, through the login form), opens the
//! borrower's portal link, and stops it with Ctrl-C (SIGINT).

use crate::text;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What the demo printed before "Press Ctrl-C to stop".
struct Banner {
    lines: Vec<String>,
    login: String,
    base: String,
    /// (role, username, password)
    users: Vec<(String, String, String)>,
    portal: String,
    portal_borrower: String,
    portal_loan: String,
}

/// The word after `key` on a line.
fn after<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_once(key)?.1.split_whitespace().next()
}

fn parse_banner(lines: Vec<String>) -> Banner {
    let find = |prefix: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|| panic!("no line {prefix:?} in:\n{}", lines.join("\n")))
    };
    let login = find("Log in:");
    let portal = find("Borrower portal:");
    let base = login
        .strip_suffix("/login")
        .expect("a /login URL")
        .to_owned();
    let users = lines
        .iter()
        .filter(|l| l.contains("username:"))
        .map(|l| {
            (
                l.split_whitespace().next().unwrap().to_owned(),
                after(l, "username:").unwrap().to_owned(),
                after(l, "password:").unwrap().to_owned(),
            )
        })
        .collect();
    let about = lines
        .iter()
        .find(|l| l.trim_start().starts_with("(borrower "))
        .expect("the portal link's borrower and loan");
    let portal_borrower = after(about, "(borrower ")
        .unwrap()
        .trim_end_matches(',')
        .to_owned();
    let portal_loan = after(about, "loan ")
        .unwrap()
        .trim_end_matches(':')
        .to_owned();
    Banner {
        lines,
        login,
        base,
        users,
        portal,
        portal_borrower,
        portal_loan,
    }
}

/// Lines of the child's stdout, read on a thread.
fn stdout_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The lines up to and including the one containing `end`.
fn read_until(rx: &mpsc::Receiver<String>, end: &str, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut lines = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => {
                let last = l.contains(end);
                lines.push(l);
                if last {
                    return lines;
                }
            }
            Err(e) => panic!("no {end:?} ({e}); stdout so far:\n{}", lines.join("\n")),
        }
    }
}

/// Kills the demo if the test fails before it stops it.
struct Demo(Option<Child>);

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A GET (no form) or a POST of a form of URL-safe values, following no redirect (a login's
/// 303 carries its cookie): the status, the body and the session cookie (`name=value`) it set.
fn send(url: &str, cookie: Option<&str>, form: Option<&str>) -> (u16, String, Option<String>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut req = ureq::http::Request::builder().uri(url);
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    let res = match form {
        Some(f) => agent.run(
            req.method("POST")
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(f.to_owned())
                .unwrap(),
        ),
        None => agent.run(req.method("GET").body(()).unwrap()),
    };
    let mut r = res.expect("the request is answered");
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("arrears_session=") && !c.starts_with("arrears_session=;"))
        .and_then(|c| c.split(';').next())
        .map(str::to_owned);
    let status = r.status().as_u16();
    (status, r.body_mut().read_to_string().unwrap(), session)
}

fn get(url: &str, cookie: Option<&str>) -> (u16, String) {
    let (status, body, _) = send(url, cookie, None);
    (status, body)
}

fn post(url: &str, form: &str) -> (u16, String, Option<String>) {
    send(url, None, Some(form))
}

/// Logs in; the session cookie.
fn login(b: &Banner, role: &str) -> String {
    let (_, user, password) = b
        .users
        .iter()
        .find(|u| u.0 == role)
        .unwrap_or_else(|| panic!("no {role} in:\n{}", b.lines.join("\n")));
    let (status, body, cookie) = post(&b.login, &format!("username={user}&password={password}"));
    assert_eq!(status, 303, "{role} logs in: {body}");
    cookie.expect("a session cookie")
}

#[test]
fn the_demo_serves_a_sample_a_newcomer_can_log_into_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let stderr = logs.path().join("stderr.log");
    let child = Command::new(env!("CARGO_BIN_EXE_arrears"))
        .args(["demo", "--port", "0", "--loans", "300", "--dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("arrears demo starts");
    let mut demo = Demo(Some(child));
    let rx = stdout_lines(demo.0.as_mut().unwrap());
    let lines = read_until(&rx, "Press Ctrl-C to stop", Duration::from_secs(300));
    let b = parse_banner(lines);
    let all = b.lines.join("\n");

    // The old summary is still there, now from the run over the store.
    assert!(all.contains("Daily run as of 2026-11-28"), "{all}");
    assert!(
        all.contains("bucket") && all.contains("loans computed: 300"),
        "{all}"
    );
    assert!(b.base.starts_with("http://127.0.0.1:"), "{}", b.base);
    assert!(
        !b.base.ends_with(":0"),
        "the real port is printed: {}",
        b.base
    );
    assert!(
        b.portal
            .starts_with(&format!("{}/portal/enter?code=", b.base)),
        "{}",
        b.portal
    );
    let roles: Vec<&str> = b.users.iter().map(|u| u.0.as_str()).collect();
    assert_eq!(roles, ["agent", "supervisor"], "{all}");
    for (_, _, password) in &b.users {
        assert!(password.len() >= 12, "{password}");
    }
    assert_ne!(
        b.users[0].2, b.users[1].2,
        "each user has a password of their own"
    );

    // A wrong password is refused.
    let (status, _, cookie) = post(&b.login, "username=demo-agent&password=not-the-password");
    assert_eq!((status, cookie), (401, None));

    // The agent's queue is not empty, and holds only the agent's loans.
    let agent = login(&b, "agent");
    let (status, home) = get(&format!("{}/", b.base), Some(&agent));
    assert_eq!(status, 200, "{home}");
    assert!(home.contains("demo-agent (agent)"), "{home}");
    assert!(!home.contains("id=\"queue-empty\""), "{home}");
    let queued: Vec<&str> = home
        .split("class=\"task\" data-loan=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .collect();
    assert!(!queued.is_empty(), "the agent's queue has tasks: {home}");
    let assigned = b
        .lines
        .iter()
        .find_map(|l| l.split_once("assigned to demo-agent: "))
        .map(|(_, loans)| loans.split(", ").collect::<Vec<_>>())
        .expect("the assigned loans are printed");
    for l in &queued {
        assert!(assigned.contains(l), "{l} is not one of {assigned:?}");
    }
    // The dashboard is for supervisors, not agents.
    let (status, _) = get(&format!("{}/dashboard", b.base), Some(&agent));
    assert_eq!(status, 403);

    // The supervisor sees the dashboard with the day's snapshot.
    let supervisor = login(&b, "supervisor");
    let (status, dash) = get(&format!("{}/dashboard", b.base), Some(&supervisor));
    assert_eq!(status, 200, "{dash}");
    assert!(
        dash.contains("<span id=\"snapshot-date\">2026-11-28</span>"),
        "{dash}"
    );

    // In a real browser (headless Chromium, when installed): the agent signs in at the
    // printed login link with the printed password and sees the queue of assigned call tasks.
    if let Some((mut driver, port)) = crate::pages::chromedriver() {
        let (_, user, password) = b.users.iter().find(|u| u.0 == "agent").unwrap().clone();
        let profile = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let seen = rt.block_on(async {
            let c = crate::pages::headless(port, profile.path().to_str().unwrap()).await?;
            let out = async {
                crate::pages::sign_in_at(&c, &b.login, &user, &password).await?;
                crate::pages::css_text_until(&c, "body", |t| queued.iter().any(|l| t.contains(*l)))
                    .await
            }
            .await;
            let _ = c.close().await;
            out
        });
        let _ = driver.kill();
        let _ = driver.wait();
        let body = seen.unwrap();
        assert!(body.contains("demo-agent"), "{body}");
    }

    // The portal link: its page, then the one-time code for a borrower session, which shows
    // the borrower's overdue loan.
    let (status, enter) = get(&b.portal, None);
    assert_eq!(status, 200, "{enter}");
    let code = b.portal.rsplit_once("code=").unwrap().1;
    let (status, body, cookie) = post(&format!("{}/portal/enter", b.base), &format!("code={code}"));
    assert_eq!(status, 303, "{body}");
    let borrower = cookie.expect("a borrower session");
    let (status, page) = get(
        &format!("{}/portal/b/{}", b.base, b.portal_borrower),
        Some(&borrower),
    );
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(&b.portal_loan), "{} in {page}", b.portal_loan);
    // The demo lender's policy says who the lender is and how to reach and pay it.
    assert!(
        page.contains("<a href=\"tel:+18005550100\" class=\"lender-phone\">"),
        "{page}"
    );
    assert!(
        page.contains("<a href=\"https://pay.lender.example\" class=\"pay-link\""),
        "{page}"
    );
    // Used once: the code does not open a second session.
    let (status, _, cookie) = post(&format!("{}/portal/enter", b.base), &format!("code={code}"));
    assert_eq!((status, cookie), (403, None));

    // Ctrl-C: a graceful stop with exit code 0, the store left in --dir.
    let mut child = demo.0.take().unwrap();
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the demo did not stop within 10 s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        status.code(),
        Some(0),
        "{}",
        std::fs::read_to_string(&stderr).unwrap_or_default()
    );
    assert!(dir.path().join("arrears.db").is_file());
    assert!(dir.path().join("out/summary.json").is_file());
}

#[test]
fn without_serving_the_demo_prints_what_it_would_serve_and_removes_its_folder() {
    let o = Command::new(env!("CARGO_BIN_EXE_arrears"))
        .args(["demo", "--no-serve", "--port", "0", "--loans", "200"])
        .output()
        .unwrap();
    let out = text(&o.stdout);
    assert!(o.status.success(), "{out}{}", text(&o.stderr));
    let b = parse_banner(out.lines().map(str::to_owned).collect());
    assert!(out.contains("would listen on http://127.0.0.1:"), "{out}");
    assert!(!out.contains("Press Ctrl-C"), "{out}");
    assert_eq!(b.users.len(), 2, "{out}");
    // The temporary folder it named is gone.
    let folder = out
        .lines()
        .find_map(|l| l.strip_prefix("The store is in "))
        .and_then(|l| l.split_once(" and is removed"))
        .map(|(d, _)| d.to_owned())
        .expect("the temporary folder is named");
    assert!(folder.contains("arrears-demo-"), "{folder}");
    assert!(
        !std::path::Path::new(&folder).exists(),
        "{folder} was removed"
    );
}

#[test]
fn a_demo_refuses_a_folder_that_holds_a_store_already() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("arrears.db"), "").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_arrears"))
        .args(["demo", "--no-serve", "--port", "0", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("already holds a demo store"));
}
