//! The load generator of `bench/cluster.sh`: a mixed workload spread over several Portcullis
//! servers on one database, for a bounded time and request count.
//!
//! Each worker walks accounts through their life, each request on the next server in turn:
//! register, (one account in `CLUSTER_MFA_EVERY`: enrol TOTP, then sign in with the MFA step,
//! using a recovery code), mobile sign-in, a chain of refreshes, protected reads
//! (`GET /api/auth/me`), then sign-out or sign-out-all. After each sign-out a check waits for the
//! revocation bound and asks every server with the old access token: each must refuse it.
//!
//! Settings (environment): `CLUSTER_SERVERS` (comma-separated base URLs), `CLUSTER_DURATION_SECS`
//! (60), `CLUSTER_MAX_REQUESTS` (0: no bound), `CLUSTER_CONCURRENCY` (16), `CLUSTER_RATE` (requests
//! per second over all workers, 0: as fast as answered), `CLUSTER_REFRESHES` (5 per chain),
//! `CLUSTER_READS` (5 per chain), `CLUSTER_MFA_EVERY` (8), `CLUSTER_REVOCATION_BOUND_MS` (1000),
//! `CLUSTER_OUT` (the JSON report; default stdout).
//!
//! The report: per request kind its count, statuses, p50/p99 latency; every 5xx and connection
//! error with its time (the script checks them against the outage windows); the usernames
//! registered and the grants signed in (the script checks the database still has them); the
//! revocations some server did not enforce within the bound.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn unix_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default()
}

/// One request's outcome.
struct Sample {
    kind: &'static str,
    status: u16,
    micros: u64,
}

/// A 5xx or a connection error, when and where.
#[derive(Debug)]
struct Failure {
    at_ms: u128,
    kind: &'static str,
    server: usize,
    status: u16,
    detail: String,
}

#[derive(Default)]
struct Report {
    samples: Vec<Sample>,
    failures: Vec<Failure>,
    registered: Vec<String>,
    grants: Vec<String>,
    revocation_checks: u64,
    revocation_violations: Vec<String>,
    /// Sign-ins answered with a token pair (each has its `sign_in_succeeded` audit event).
    completed_sign_ins: u64,
}

struct Load {
    servers: Vec<String>,
    client: reqwest::Client,
    report: Mutex<Report>,
    requests: AtomicU64,
    max_requests: u64,
    deadline: Instant,
    pace: Option<Duration>,
    next_slot: Mutex<Instant>,
    revocation_bound: Duration,
    refreshes: usize,
    reads: usize,
    mfa_every: u64,
}

/// What a request answered: status and JSON body (status 0: no answer).
struct Answer {
    status: u16,
    body: Value,
}

impl Load {
    fn done(&self) -> bool {
        Instant::now() >= self.deadline
            || (self.max_requests > 0 && self.requests.load(Ordering::Relaxed) >= self.max_requests)
    }

    /// Waits for this request's slot when a rate is set.
    async fn pace(&self) {
        let Some(every) = self.pace else { return };
        let slot = {
            let mut next = self.next_slot.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + every;
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }

    async fn call(
        &self,
        kind: &'static str,
        server: usize,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        self.pace().await;
        self.requests.fetch_add(1, Ordering::Relaxed);
        let url = format!("{}{}", self.servers[server], path);
        let mut request = self.client.request(method, url);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let started = Instant::now();
        let result = request.send().await;
        let (status, body, detail) = match result {
            Ok(response) => {
                let status = response.status().as_u16();
                let text = response.text().await.unwrap_or_default();
                let body = serde_json::from_str(&text).unwrap_or(Value::Null);
                (status, body, text.chars().take(200).collect())
            }
            Err(error) => (0, Value::Null, error.to_string()),
        };
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let mut report = self.report.lock().unwrap_or_else(|p| p.into_inner());
        report.samples.push(Sample { kind, status, micros });
        if status == 0 || status >= 500 {
            report.failures.push(Failure { at_ms: unix_ms(), kind, server, status, detail });
        }
        Answer { status, body }
    }
}

/// The `sid` (grant id) of a JWT, read without verifying (the server verified it).
fn grant_of(token: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims["sid"].as_str().map(str::to_owned)
}

/// RFC 4648 base32 (no padding), as TOTP secrets are shown.
fn base32_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut value, mut out) = (0u32, 0u64, Vec::new());
    for c in text.bytes().filter(|c| *c != b'=') {
        let digit = ALPHABET.iter().position(|a| *a == c.to_ascii_uppercase())?;
        value = (value << 5) | digit as u64;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((value >> bits) as u8);
            value &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// One account's life; returns false when the run should stop.
async fn lifecycle(load: &Arc<Load>, worker: usize, n: u64, turn: &mut usize) -> bool {
    let mut next = || {
        *turn = (*turn + 1) % load.servers.len();
        *turn
    };
    let username = format!("w{worker}-{n}-{}", unix_ms() % 1_000_000_000);
    let password = format!("cluster password of {username}");
    let creds = json!({"username": username, "password": password});
    let registered = load
        .call("register", next(), reqwest::Method::POST, "/api/auth/register", None, Some(creds.clone()))
        .await;
    if registered.status != 201 {
        return !load.done();
    }
    load.report.lock().unwrap_or_else(|p| p.into_inner()).registered.push(username.clone());
    let mut recovery_codes: Vec<String> = Vec::new();
    if load.mfa_every > 0 && n.is_multiple_of(load.mfa_every) {
        let first = load
            .call(
                "sign_in",
                next(),
                reqwest::Method::POST,
                "/api/auth/mobile/sign-in",
                None,
                Some(creds.clone()),
            )
            .await;
        let Some(access) = first.body["access"].as_str().map(str::to_owned) else { return !load.done() };
        load.report.lock().unwrap_or_else(|p| p.into_inner()).completed_sign_ins += 1;
        let setup = load
            .call("mfa_setup", next(), reqwest::Method::POST, "/api/auth/mfa/totp/setup", Some(&access), None)
            .await;
        let Some(secret) = setup.body["secret"].as_str().and_then(base32_decode) else { return !load.done() };
        let totp = portcullis::mfa::Totp::new(secret);
        let now = i64::try_from(unix_ms() / 1000).unwrap_or_default();
        let code = totp.code_at_step(totp.step_at(now));
        let confirmed = load
            .call(
                "mfa_confirm",
                next(),
                reqwest::Method::POST,
                "/api/auth/mfa/totp/confirm",
                Some(&access),
                Some(json!({"code": code})),
            )
            .await;
        recovery_codes = confirmed.body["recovery_codes"]
            .as_array()
            .map(|codes| codes.iter().filter_map(|c| c.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
    }
    let signed_in = load
        .call("sign_in", next(), reqwest::Method::POST, "/api/auth/mobile/sign-in", None, Some(creds.clone()))
        .await;
    let pair = if signed_in.body["mfa_required"] == json!(true) {
        let (Some(mfa_token), Some(code)) = (signed_in.body["mfa_token"].as_str(), recovery_codes.first())
        else {
            return !load.done();
        };
        let verified = load
            .call(
                "mfa_sign_in",
                next(),
                reqwest::Method::POST,
                "/api/auth/mfa/verify",
                None,
                Some(json!({"mfa_token": mfa_token, "recovery_code": code})),
            )
            .await;
        verified.body
    } else {
        signed_in.body
    };
    let (Some(mut access), Some(mut refresh)) =
        (pair["access"].as_str().map(str::to_owned), pair["refresh"].as_str().map(str::to_owned))
    else {
        return !load.done();
    };
    {
        let mut report = load.report.lock().unwrap_or_else(|p| p.into_inner());
        report.completed_sign_ins += 1;
        if let Some(grant) = grant_of(&refresh) {
            report.grants.push(grant);
        }
    }
    for _ in 0..load.refreshes {
        if load.done() {
            return false;
        }
        let rotated = load
            .call(
                "refresh",
                next(),
                reqwest::Method::POST,
                "/api/auth/mobile/token-refresh",
                None,
                Some(json!({"refresh": refresh})),
            )
            .await;
        match (rotated.body["access"].as_str(), rotated.body["refresh"].as_str()) {
            (Some(a), Some(r)) => (access, refresh) = (a.to_owned(), r.to_owned()),
            // A refresh that got no answer (a server killed, the database restarting) may have
            // rotated: the chain cannot go on with this token, as a client's could not either.
            _ => return !load.done(),
        }
    }
    for _ in 0..load.reads {
        if load.done() {
            return false;
        }
        load.call("read", next(), reqwest::Method::GET, "/api/auth/me", Some(&access), None).await;
    }
    let signed_out = if n.is_multiple_of(2) {
        load.call(
            "sign_out",
            next(),
            reqwest::Method::POST,
            "/api/auth/mobile/sign-out",
            None,
            Some(json!({"refresh": refresh})),
        )
        .await
    } else {
        load.call(
            "sign_out_all",
            next(),
            reqwest::Method::POST,
            "/api/auth/sign-out-all",
            Some(&access),
            None,
        )
        .await
    };
    if (200..300).contains(&signed_out.status) {
        // Every server refuses the old access token once the revocation bound has passed.
        let load = Arc::clone(load);
        tokio::spawn(async move {
            tokio::time::sleep(load.revocation_bound + Duration::from_millis(250)).await;
            for server in 0..load.servers.len() {
                let url = format!("{}/api/auth/me", load.servers[server]);
                let Ok(answer) = load.client.get(url).bearer_auth(&access).send().await else { continue };
                let status = answer.status().as_u16();
                let mut report = load.report.lock().unwrap_or_else(|p| p.into_inner());
                report.revocation_checks += 1;
                // 401: refused; 503: the server fails closed (its revocation list stale).
                if status != 401 && status != 503 {
                    report
                        .revocation_violations
                        .push(format!("server {server} answered {status} for {username} at {}", unix_ms()));
                }
            }
        });
    }
    !load.done()
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)] as f64 / 1000.0
}

#[tokio::main]
async fn main() {
    let servers: Vec<String> = std::env::var("CLUSTER_SERVERS")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('/').to_owned())
        .collect();
    if servers.is_empty() {
        eprintln!("set CLUSTER_SERVERS to the servers' base URLs, comma-separated");
        std::process::exit(2);
    }
    let duration = Duration::from_secs(env_or("CLUSTER_DURATION_SECS", 60));
    let concurrency: usize = env_or("CLUSTER_CONCURRENCY", 16);
    let rate: f64 = env_or("CLUSTER_RATE", 0.0);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap_or_else(|_| reqwest::Client::new());
    let started = Instant::now();
    let load = Arc::new(Load {
        servers,
        client,
        report: Mutex::new(Report::default()),
        requests: AtomicU64::new(0),
        max_requests: env_or("CLUSTER_MAX_REQUESTS", 0),
        deadline: started + duration,
        pace: (rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate)),
        next_slot: Mutex::new(started),
        revocation_bound: Duration::from_millis(env_or("CLUSTER_REVOCATION_BOUND_MS", 1000)),
        refreshes: env_or("CLUSTER_REFRESHES", 5),
        reads: env_or("CLUSTER_READS", 5),
        mfa_every: env_or("CLUSTER_MFA_EVERY", 8),
    });
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let load = Arc::clone(&load);
        workers.push(tokio::spawn(async move {
            let mut turn = worker;
            let mut n = 0u64;
            while lifecycle(&load, worker, n, &mut turn).await {
                n += 1;
            }
        }));
    }
    for worker in workers {
        let _ = worker.await;
    }
    let elapsed = started.elapsed();
    // The last revocation checks.
    tokio::time::sleep(load.revocation_bound + Duration::from_millis(500)).await;
    let report = std::mem::take(&mut *load.report.lock().unwrap_or_else(|p| p.into_inner()));
    let mut kinds: BTreeMap<&str, (Vec<u64>, BTreeMap<u16, u64>)> = BTreeMap::new();
    for sample in &report.samples {
        let entry = kinds.entry(sample.kind).or_default();
        entry.0.push(sample.micros);
        *entry.1.entry(sample.status).or_default() += 1;
    }
    let mut per_kind = serde_json::Map::new();
    for (kind, (mut micros, statuses)) in kinds {
        micros.sort_unstable();
        per_kind.insert(
            kind.to_owned(),
            json!({
                "count": micros.len(),
                "statuses": statuses.iter().map(|(s, n)| (s.to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
                "p50_ms": percentile(&micros, 0.50),
                "p99_ms": percentile(&micros, 0.99),
            }),
        );
    }
    let total = report.samples.len();
    let out = json!({
        "seconds": elapsed.as_secs_f64(),
        "requests": total,
        "throughput": total as f64 / elapsed.as_secs_f64().max(0.001),
        "kinds": per_kind,
        "failures": report.failures.iter().map(|f| json!({
            "at_ms": f.at_ms as u64, "kind": f.kind, "server": f.server, "status": f.status, "detail": f.detail,
        })).collect::<Vec<_>>(),
        "registered": report.registered,
        "grants": report.grants,
        "revocation_checks": report.revocation_checks,
        "revocation_violations": report.revocation_violations,
        "completed_sign_ins": report.completed_sign_ins,
    });
    let text = serde_json::to_string_pretty(&out).unwrap_or_default();
    match std::env::var("CLUSTER_OUT") {
        Ok(path) if !path.is_empty() => {
            if let Err(error) = std::fs::write(&path, text) {
                eprintln!("writing {path}: {error}");
                std::process::exit(1);
            }
        }
        _ => println!("{text}"),
    }
}
