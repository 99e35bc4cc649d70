//! Test helpers (feature `testing`): a real SMTP server on `127.0.0.1`, and parsers for what a
//! [`FileMailer`](crate::FileMailer) wrote.
//!
//! [`SmtpSink`] accepts every message (no TLS, no authentication) and keeps it, so that a test
//! can drive the real [`SmtpMailer`](crate::SmtpMailer) through
//! [`EmailBackend`](crate::EmailBackend) and then read the link out of the delivered message:
//!
//! ```
//! use std::time::Duration;
//! use auth_mail::testing::SmtpSink;
//! use auth_mail::{DefaultTemplates, EmailBackend, MailTemplates};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sink = SmtpSink::start()?;
//! let mailer = EmailBackend::parse(&sink.url())?.into_mailer("Portcullis <no-reply@example.com>")?;
//!
//! let link = "https://app.example.com/reset-password?token=0123456789abcdef0123456789abcdef";
//! let email = DefaultTemplates::default().password_reset("alice@example.com", link, chrono::Duration::hours(1));
//! mailer.send(&email).await?;
//!
//! let received = sink.wait_for("alice@example.com", Duration::from_secs(10)).await.expect("delivered");
//! assert_eq!(received.from, "no-reply@example.com");
//! assert_eq!(received.subject().as_deref(), Some("[Portcullis] Reset your password"));
//! assert_eq!(received.find_link("https://app.example.com/").as_deref(), Some(link));
//! # Ok(())
//! # }
//! ```
//!
//! Every [`SmtpSink::start`] opens a new server on a fresh ephemeral port; dropping the sink
//! stops it.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mailparse::{DispositionType, MailAddr, MailHeaderMap, ParsedMail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// How often the `wait_for*` helpers look for new mail.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// A message as it arrived.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceivedMail {
    /// The sender: the SMTP envelope's `MAIL FROM` for [`SmtpSink`], the `From` header's address
    /// for [`read_eml_dir`].
    pub from: String,
    /// The recipients: the envelope's `RCPT TO`s for [`SmtpSink`], the `To` header's addresses
    /// for [`read_eml_dir`].
    pub to: Vec<String>,
    /// The full message (headers and encoded body), as received.
    pub raw: String,
}

impl fmt::Debug for ReceivedMail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceivedMail")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("subject", &self.subject())
            .field("raw_len", &self.raw.len())
            .finish()
    }
}

impl ReceivedMail {
    /// The decoded `Subject` header.
    pub fn subject(&self) -> Option<String> {
        let (headers, _) = mailparse::parse_headers(self.raw.as_bytes()).ok()?;
        headers.get_first_value("Subject")
    }

    /// The first `text/plain` part, with its transfer encoding (quoted-printable, base64) and
    /// charset decoded and line endings as `\n` (the transport may have added a final line break).
    /// Empty if the message has none or does not parse.
    pub fn text(&self) -> String {
        self.part("text/plain").unwrap_or_default()
    }

    /// The first `text/html` part, decoded like [`text`](ReceivedMail::text).
    pub fn html(&self) -> Option<String> {
        self.part("text/html")
    }

    /// The first URL in [`text`](ReceivedMail::text) that starts with `prefix`, up to the next
    /// whitespace: `find_link("https://app.example.com/reset")`.
    pub fn find_link(&self, prefix: &str) -> Option<String> {
        let text = self.text();
        let start = text.find(prefix)?;
        let link = text[start..].split(char::is_whitespace).next().unwrap_or_default();
        Some(link.to_owned())
    }

    fn part(&self, mimetype: &str) -> Option<String> {
        let mail = mailparse::parse_mail(self.raw.as_bytes()).ok()?;
        let part = find_part(&mail, mimetype)?;
        Some(part.get_body().ok()?.replace("\r\n", "\n"))
    }

    /// Whether `to` is one of the recipients (ASCII case-insensitive).
    fn is_for(&self, to: &str) -> bool {
        self.to.iter().any(|recipient| recipient.eq_ignore_ascii_case(to))
    }
}

fn find_part<'a>(mail: &'a ParsedMail<'a>, mimetype: &str) -> Option<&'a ParsedMail<'a>> {
    if mail.subparts.is_empty() {
        let attachment = mail.get_content_disposition().disposition == DispositionType::Attachment;
        (mail.ctype.mimetype.eq_ignore_ascii_case(mimetype) && !attachment).then_some(mail)
    } else {
        mail.subparts.iter().find_map(|part| find_part(part, mimetype))
    }
}

/// A real SMTP server on `127.0.0.1` (ephemeral port) that keeps every message it receives.
/// Plaintext only: point a mailer at [`url`](SmtpSink::url) (`smtp://127.0.0.1:PORT?tls=none`).
///
/// It speaks what a submission client needs: `EHLO`/`HELO`, `MAIL FROM`, `RCPT TO`, `DATA` (with
/// dot-unstuffing), `RSET`, `NOOP`, `VRFY`, `QUIT`, and `AUTH PLAIN`/`AUTH LOGIN`, which accept
/// any credentials and record them ([`authentications`](SmtpSink::authentications)). It offers
/// no `STARTTLS`, so a mailer that requires TLS fails against it, as it should.
///
/// The server runs on its own thread (with its own Tokio runtime, so it keeps answering while a
/// test blocks its own runtime) until the `SmtpSink` is dropped.
#[derive(Debug)]
pub struct SmtpSink {
    addr: SocketAddr,
    state: Arc<SinkState>,
    shutdown: Option<oneshot::Sender<()>>,
}

/// What the server threads share with the [`SmtpSink`].
#[derive(Debug, Default)]
struct SinkState {
    inbox: Mutex<Vec<ReceivedMail>>,
    authentications: Mutex<Vec<(String, String)>>,
    sessions: AtomicUsize,
}

impl SmtpSink {
    /// Starts the server.
    ///
    /// # Errors
    ///
    /// When no port can be bound or the server thread cannot be started.
    pub fn start() -> io::Result<SmtpSink> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let listener = {
            let _context = runtime.enter();
            TcpListener::from_std(listener)?
        };
        let state = Arc::new(SinkState::default());
        let (shutdown, mut stopped) = oneshot::channel::<()>();
        let server_state = state.clone();
        std::thread::Builder::new().name(format!("smtp-sink-{}", addr.port())).spawn(move || {
            runtime.block_on(async move {
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        accepted = listener.accept() => {
                            if let Ok((stream, _)) = accepted {
                                let state = server_state.clone();
                                tokio::spawn(async move {
                                    // A client that goes away mid-session is not an error here.
                                    let _ = serve_session(stream, &state).await;
                                });
                            }
                        }
                    }
                }
            });
            // Dropping the runtime here ends every open session.
        })?;
        Ok(SmtpSink { addr, state, shutdown: Some(shutdown) })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The backend string for it: `smtp://127.0.0.1:PORT?tls=none`, for
    /// [`EmailBackend::parse`](crate::EmailBackend::parse).
    pub fn url(&self) -> String {
        format!("smtp://{}:{}?tls=none", self.addr.ip(), self.addr.port())
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        lock(&self.state.inbox).clone()
    }

    /// How many SMTP sessions (`EHLO`/`HELO` greetings) the server has seen: with a pooling
    /// mailer, fewer than messages.
    pub fn sessions(&self) -> usize {
        self.state.sessions.load(Ordering::SeqCst)
    }

    /// The (user name, password) pairs clients authenticated with, oldest first.
    pub fn authentications(&self) -> Vec<(String, String)> {
        lock(&self.state.authentications).clone()
    }

    /// The first message whose envelope recipients include `to` (ASCII case-insensitive),
    /// waiting up to `timeout` for it to arrive; `None` if it does not.
    pub async fn wait_for(&self, to: &str, timeout: Duration) -> Option<ReceivedMail> {
        self.wait_for_count(to, 1, timeout).await.into_iter().next()
    }

    /// Waits up to `timeout` until at least `n` messages for `to` have arrived, and returns all
    /// the messages for `to` received by then, oldest first (fewer than `n` on timeout).
    pub async fn wait_for_count(&self, to: &str, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
        poll(timeout, || {
            let found: Vec<ReceivedMail> = self.messages().into_iter().filter(|m| m.is_for(to)).collect();
            (found.len() >= n, found)
        })
        .await
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Calls `check` until it says done or `timeout` has passed, every [`POLL_INTERVAL`]; returns
/// the last result. The deadline is wall-clock time (mail arrives in real time), also when a test
/// has paused Tokio's clock.
async fn poll<T>(timeout: Duration, mut check: impl FnMut() -> (bool, T)) -> T {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let (done, value) = check();
        let now = std::time::Instant::now();
        if done || now >= deadline {
            return value;
        }
        tokio::time::sleep(POLL_INTERVAL.min(deadline - now)).await;
    }
}

/// The longest command line or data line accepted (RFC 5321 asks for 512 and 1000 octets).
const MAX_LINE: u64 = 64 * 1024;
/// The largest message accepted.
const MAX_MESSAGE: usize = 10 * 1024 * 1024;
const HOSTNAME: &str = "smtp-sink.localhost";

/// Reads one line (with its line ending); `None` at the end of the stream.
async fn read_line(reader: &mut BufReader<OwnedReadHalf>) -> io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let read = (&mut *reader).take(MAX_LINE).read_until(b'\n', &mut line).await?;
    if read == 0 {
        return Ok(None);
    }
    if !line.ends_with(b"\n") {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
    }
    Ok(Some(line))
}

/// The address inside `<...>` after `FROM:`/`TO:` (`keyword`), ignoring parameters.
fn path_argument(argument: &str, keyword: &str) -> Option<String> {
    let argument = argument.trim_start();
    let head = argument.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = argument[keyword.len()..].trim_start();
    let path = match rest.strip_prefix('<') {
        Some(inner) => inner.split_once('>')?.0,
        None => rest.split_whitespace().next()?,
    };
    Some(path.to_owned())
}

fn decode_base64(text: &str) -> Option<String> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD.decode(text.trim()).ok()?;
    String::from_utf8(bytes).ok()
}

/// One SMTP session, until `QUIT`, the end of the stream or an I/O error.
async fn serve_session(stream: TcpStream, state: &SinkState) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    write.write_all(format!("220 {HOSTNAME} ESMTP auth-mail test sink\r\n").as_bytes()).await?;
    let mut greeted = false;
    let mut from: Option<String> = None;
    let mut recipients: Vec<String> = Vec::new();
    while let Some(line) = read_line(&mut reader).await? {
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end_matches(['\r', '\n']);
        let (verb, argument) = line.split_once(' ').unwrap_or((line, ""));
        let reply: String = match verb.to_ascii_uppercase().as_str() {
            "EHLO" | "HELO" => {
                state.sessions.fetch_add(1, Ordering::SeqCst);
                greeted = true;
                (from, recipients) = (None, Vec::new());
                if verb.eq_ignore_ascii_case("EHLO") {
                    format!(
                        "250-{HOSTNAME}\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250-SIZE {MAX_MESSAGE}\r\n250 AUTH PLAIN LOGIN\r\n"
                    )
                } else {
                    format!("250 {HOSTNAME}\r\n")
                }
            }
            "MAIL" if !greeted || from.is_some() => "503 5.5.1 Bad sequence of commands\r\n".to_owned(),
            "MAIL" => match path_argument(argument, "FROM:") {
                Some(path) => {
                    from = Some(path);
                    "250 2.1.0 OK\r\n".to_owned()
                }
                None => "501 5.5.4 Syntax: MAIL FROM:<address>\r\n".to_owned(),
            },
            "RCPT" if from.is_none() => "503 5.5.1 Bad sequence of commands\r\n".to_owned(),
            "RCPT" => match path_argument(argument, "TO:").filter(|path| !path.is_empty()) {
                Some(path) => {
                    recipients.push(path);
                    "250 2.1.5 OK\r\n".to_owned()
                }
                None => "501 5.5.4 Syntax: RCPT TO:<address>\r\n".to_owned(),
            },
            "DATA" if recipients.is_empty() => "503 5.5.1 Bad sequence of commands\r\n".to_owned(),
            "DATA" => {
                write.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                let mut data = Vec::new();
                let mut too_big = false;
                loop {
                    let Some(line) = read_line(&mut reader).await? else { return Ok(()) };
                    if line == b".\r\n" || line == b".\n" {
                        break;
                    }
                    // Dot-unstuffing (RFC 5321 4.5.2).
                    let line = line.strip_prefix(b".").unwrap_or(&line);
                    too_big |= data.len() + line.len() > MAX_MESSAGE;
                    if !too_big {
                        data.extend_from_slice(line);
                    }
                }
                let (sender, to) = (from.take().unwrap_or_default(), std::mem::take(&mut recipients));
                if too_big {
                    "552 5.3.4 Message too big\r\n".to_owned()
                } else {
                    let raw = String::from_utf8_lossy(&data).into_owned();
                    lock(&state.inbox).push(ReceivedMail { from: sender, to, raw });
                    "250 2.0.0 OK: queued\r\n".to_owned()
                }
            }
            "AUTH" if !greeted => "503 5.5.1 Bad sequence of commands\r\n".to_owned(),
            "AUTH" => {
                let (mechanism, initial) = argument.split_once(' ').unwrap_or((argument, ""));
                let credentials = match mechanism.to_ascii_uppercase().as_str() {
                    "PLAIN" => {
                        let response = if initial.is_empty() {
                            write.write_all(b"334 \r\n").await?;
                            read_line(&mut reader).await?.map(|l| String::from_utf8_lossy(&l).into_owned())
                        } else {
                            Some(initial.to_owned())
                        };
                        response.as_deref().and_then(decode_base64).and_then(|plain| {
                            let mut fields = plain.splitn(3, '\0').skip(1);
                            Some((fields.next()?.to_owned(), fields.next()?.to_owned()))
                        })
                    }
                    "LOGIN" => {
                        let user = if initial.is_empty() {
                            write.write_all(b"334 VXNlcm5hbWU6\r\n").await?;
                            read_line(&mut reader).await?.map(|l| String::from_utf8_lossy(&l).into_owned())
                        } else {
                            Some(initial.to_owned())
                        };
                        write.write_all(b"334 UGFzc3dvcmQ6\r\n").await?;
                        let password =
                            read_line(&mut reader).await?.map(|l| String::from_utf8_lossy(&l).into_owned());
                        user.as_deref()
                            .and_then(decode_base64)
                            .zip(password.as_deref().and_then(decode_base64))
                    }
                    _ => {
                        write.write_all(b"504 5.5.4 Unrecognized authentication type\r\n").await?;
                        continue;
                    }
                };
                match credentials {
                    Some(credentials) => {
                        lock(&state.authentications).push(credentials);
                        "235 2.7.0 Authentication successful\r\n".to_owned()
                    }
                    None => "501 5.5.2 Cannot decode the credentials\r\n".to_owned(),
                }
            }
            "RSET" => {
                (from, recipients) = (None, Vec::new());
                "250 2.0.0 OK\r\n".to_owned()
            }
            "NOOP" => "250 2.0.0 OK\r\n".to_owned(),
            "VRFY" => "252 2.1.5 Cannot verify, but will accept\r\n".to_owned(),
            "QUIT" => {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => "500 5.5.2 Command not recognized\r\n".to_owned(),
        };
        write.write_all(reply.as_bytes()).await?;
    }
    Ok(())
}

/// Parses the `.eml` files a [`FileMailer`](crate::FileMailer) wrote into `dir`, oldest first
/// (by file name). [`ReceivedMail::from`] and [`ReceivedMail::to`] come from the `From` and `To`
/// headers. Temporary files of writes in progress are skipped.
///
/// # Errors
///
/// When the directory or a file cannot be read.
pub fn read_eml_dir(dir: &Path) -> io::Result<Vec<ReceivedMail>> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|name| name.to_str()) else { continue };
        if name.ends_with(".eml") && !name.starts_with('.') && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort();
    let mut mails = Vec::with_capacity(paths.len());
    for path in paths {
        let raw = String::from_utf8_lossy(&std::fs::read(&path)?).into_owned();
        let from = header_addresses(&raw, "From").into_iter().next().unwrap_or_default();
        let to = header_addresses(&raw, "To");
        mails.push(ReceivedMail { from, to, raw });
    }
    Ok(mails)
}

/// Parses the messages an external SMTP server stored in the Maildir `dir` (its `new/` and `cur/`
/// folders), e.g. `python3 -m aiosmtpd -c aiosmtpd.handlers.Mailbox DIR`, which `.ci/smtp.sh`
/// runs. [`ReceivedMail::to`] are the envelope recipients (the `X-RcptTo` header aiosmtpd adds),
/// else the `To` header's. A missing directory counts as empty.
///
/// # Errors
///
/// When a file cannot be read.
pub fn read_maildir(dir: &Path) -> io::Result<Vec<ReceivedMail>> {
    let mut paths = Vec::new();
    for folder in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(dir.join(folder)) else { continue };
        for entry in entries {
            let path = entry?.path();
            if path.is_file() {
                paths.push(path);
            }
        }
    }
    paths.sort();
    let mut mails = Vec::with_capacity(paths.len());
    for path in paths {
        let raw = String::from_utf8_lossy(&std::fs::read(&path)?).into_owned();
        let from = header_addresses(&raw, "From").into_iter().next().unwrap_or_default();
        let mut to = header_addresses(&raw, "X-RcptTo");
        if to.is_empty() {
            to = header_addresses(&raw, "To");
        }
        mails.push(ReceivedMail { from, to, raw });
    }
    Ok(mails)
}

/// The first message in the Maildir `dir` addressed to `to`, waiting up to `timeout` for it.
pub async fn wait_for_maildir(dir: &Path, to: &str, timeout: Duration) -> Option<ReceivedMail> {
    poll(timeout, || {
        let found = read_maildir(dir).ok().and_then(|mails| mails.into_iter().find(|m| m.is_for(to)));
        (found.is_some(), found)
    })
    .await
}

/// The first `.eml` message in `dir` addressed to `to` (ASCII case-insensitive), waiting up to
/// `timeout` for it to be written; `None` if it is not (a missing directory counts as empty).
pub async fn wait_for_eml(dir: &Path, to: &str, timeout: Duration) -> Option<ReceivedMail> {
    poll(timeout, || {
        let found = read_eml_dir(dir).ok().and_then(|mails| mails.into_iter().find(|m| m.is_for(to)));
        (found.is_some(), found)
    })
    .await
}

fn header_addresses(raw: &str, name: &str) -> Vec<String> {
    let Ok((headers, _)) = mailparse::parse_headers(raw.as_bytes()) else { return Vec::new() };
    let Some(header) = headers.get_first_header(name) else { return Vec::new() };
    let Ok(list) = mailparse::addrparse_header(header) else { return Vec::new() };
    list.iter()
        .flat_map(|addr| match addr {
            MailAddr::Single(single) => vec![single.addr.clone()],
            MailAddr::Group(group) => group.addrs.iter().map(|single| single.addr.clone()).collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::time::Instant;

    use super::*;
    use crate::{DefaultTemplates, Email, EmailBackend, FileMailer, MailError, MailTemplates, Mailer};
    use crate::{SmtpConfig, SmtpMailer, SmtpTls};

    const FROM: &str = "Portcullis <no-reply@example.com>";
    const WAIT: Duration = Duration::from_secs(10);

    /// A link with a 64-character token: longer than a 76-character line, so it gets encoded.
    fn long_link() -> String {
        format!("https://app.example.com/reset-password?token={}", "9fA3-_kZ".repeat(8))
    }

    #[tokio::test]
    async fn smtp_delivers_to_the_sink() {
        let sink = SmtpSink::start().unwrap();
        assert_eq!(sink.url(), format!("smtp://127.0.0.1:{}?tls=none", sink.addr().port()));
        let mailer = EmailBackend::parse(&sink.url()).unwrap().into_mailer(FROM).unwrap();
        let link = long_link();
        let email = DefaultTemplates::default().password_reset(
            "Alice@Example.com",
            &link,
            chrono::Duration::hours(1),
        );
        mailer.send(&email).await.unwrap();

        let received = sink.wait_for("alice@example.com", WAIT).await.expect("delivered");
        assert_eq!(received.from, "no-reply@example.com");
        assert_eq!(received.to, ["Alice@Example.com"]);
        assert_eq!(received.subject().as_deref(), Some("[Portcullis] Reset your password"));
        assert_eq!(received.find_link("https://app.example.com/").as_deref(), Some(link.as_str()));
        assert_eq!(received.text().trim_end(), email.text.trim_end(), "decoded text part");
        assert_eq!(received.html(), email.html.map(|html| html.replace("\r\n", "\n")));
        assert!(received.raw.contains("From: Portcullis <no-reply@example.com>"), "{}", received.raw);
        assert!(sink.wait_for("bob@example.com", Duration::from_millis(50)).await.is_none());
    }

    #[tokio::test]
    async fn two_messages_in_a_row_reuse_the_connection() {
        let sink = SmtpSink::start().unwrap();
        let mailer =
            SmtpMailer::new(SmtpConfig::new("127.0.0.1").port(sink.addr().port()).tls(SmtpTls::None), FROM)
                .unwrap();
        // A line starting with a dot is dot-stuffed on the wire and must arrive unchanged.
        let first = Email::new("carol@example.com", "First", ".hidden line\nsecond line\n");
        let second = Email::new("carol@example.com", "Second", "Unicode: Grüße, ✓\n");
        mailer.send(&first).await.unwrap();
        // lettre hands the connection back to its pool in a task it spawns; on this
        // current-thread runtime, yielding once lets that task run before the next send.
        tokio::task::yield_now().await;
        mailer.send(&second).await.unwrap();
        let received = sink.wait_for_count("carol@example.com", 2, WAIT).await;
        assert_eq!(received.len(), 2, "{received:?}");
        assert_eq!(received[0].subject().as_deref(), Some("First"));
        // The transport may add a final line break.
        assert_eq!(received[0].text().trim_end(), first.text.trim_end());
        assert_eq!(received[1].subject().as_deref(), Some("Second"));
        assert_eq!(received[1].text().trim_end(), second.text.trim_end());
        assert_eq!(sink.sessions(), 1, "the pooled connection was reused");
        assert_eq!(sink.messages().len(), 2);
    }

    #[tokio::test]
    async fn credentials_are_sent_to_a_loopback_relay() {
        let sink = SmtpSink::start().unwrap();
        let url = format!("smtp://mailer:p%40ss%20word@127.0.0.1:{}?tls=none", sink.addr().port());
        let mailer = EmailBackend::parse(&url).unwrap().into_mailer(FROM).unwrap();
        mailer.send(&Email::new("ivan@example.com", "Hi", "x")).await.unwrap();
        assert!(sink.wait_for("ivan@example.com", WAIT).await.is_some());
        assert_eq!(sink.authentications(), [("mailer".to_owned(), "p@ss word".to_owned())]);
    }

    #[tokio::test]
    async fn dropping_the_sink_stops_the_server() {
        let sink = SmtpSink::start().unwrap();
        let addr = sink.addr();
        assert!(tokio::net::TcpStream::connect(addr).await.is_ok());
        drop(sink);
        let deadline = Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(addr).await.is_ok() {
            assert!(Instant::now() < deadline, "still accepting");
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    #[tokio::test]
    async fn the_sink_speaks_smtp() {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

        let sink = SmtpSink::start().unwrap();
        let stream = tokio::net::TcpStream::connect(sink.addr()).await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let mut expect = async |send: &str, code: &str| {
            if !send.is_empty() {
                write.write_all(format!("{send}\r\n").as_bytes()).await.unwrap();
            }
            let line = lines.next_line().await.unwrap().unwrap();
            assert!(line.starts_with(code), "{send:?} -> {line:?}, expected {code}");
        };
        expect("", "220").await;
        expect("MAIL FROM:<a@example.com>", "503").await;
        expect("HELO client.example.com", "250").await;
        expect("NOOP", "250").await;
        expect("RCPT TO:<b@example.com>", "503").await;
        expect("MAIL FROM:<a@example.com> BODY=8BITMIME", "250").await;
        expect("MAIL FROM:<a@example.com>", "503").await;
        expect("RSET", "250").await;
        expect("DATA", "503").await;
        expect("AUTH LOGIN", "334").await;
        expect("dXNlcg==", "334").await;
        expect("cGFzcw==", "235").await;
        expect("mail from:<a@example.com>", "250").await;
        expect("rcpt to:<b@example.com>", "250").await;
        expect("RCPT TO:<C@example.com>", "250").await;
        expect("DATA", "354").await;
        expect("Subject: dots\r\n\r\n..leading dot\r\n.", "250").await;
        expect("BOGUS", "500").await;
        expect("QUIT", "221").await;

        let received = sink.messages();
        assert_eq!(received.len(), 1);
        assert_eq!(received[0].from, "a@example.com");
        assert_eq!(received[0].to, ["b@example.com", "C@example.com"]);
        assert_eq!(received[0].raw, "Subject: dots\r\n\r\n.leading dot\r\n");
        assert_eq!(received[0].subject().as_deref(), Some("dots"));
        assert_eq!(sink.authentications(), [("user".to_owned(), "pass".to_owned())]);
        assert_eq!(sink.sessions(), 1);
    }

    #[tokio::test]
    async fn a_closed_port_is_a_transport_error() {
        let port = {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            listener.local_addr().unwrap().port()
        };
        let config =
            SmtpConfig::new("127.0.0.1").port(port).tls(SmtpTls::None).timeout(Duration::from_secs(2));
        let mailer = SmtpMailer::new(config, FROM).unwrap();
        let started = Instant::now();
        let error = mailer.send(&Email::new("dave@example.com", "Hi", "x")).await.unwrap_err();
        assert!(matches!(error, MailError::Transport(_)), "{error:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        // Accepts connections (the kernel's backlog) but never greets.
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let config =
            SmtpConfig::new("127.0.0.1").port(port).tls(SmtpTls::None).timeout(Duration::from_millis(500));
        let mailer = SmtpMailer::new(config, FROM).unwrap();
        let started = Instant::now();
        let error = mailer.send(&Email::new("dave@example.com", "Hi", "x")).await.unwrap_err();
        assert!(matches!(error, MailError::Transport(_)), "{error:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        drop(listener);
    }

    #[tokio::test]
    async fn starttls_required_fails_against_a_plaintext_server() {
        // The sink offers no STARTTLS: a mailer that requires it must fail, not fall back.
        let sink = SmtpSink::start().unwrap();
        let config = SmtpConfig::new("127.0.0.1").port(sink.addr().port()).timeout(Duration::from_secs(5));
        let mailer = SmtpMailer::new(config, FROM).unwrap();
        let error = mailer.send(&Email::new("erin@example.com", "Hi", "x")).await.unwrap_err();
        assert!(matches!(error, MailError::Transport(_)), "{error:?}");
        assert!(sink.messages().is_empty());
        // Opportunistic falls back to plaintext (to the loopback).
        let config = SmtpConfig::new("127.0.0.1").port(sink.addr().port()).tls(SmtpTls::Opportunistic);
        let mailer = SmtpMailer::new(config, FROM).unwrap();
        mailer.send(&Email::new("erin@example.com", "Hi", "x")).await.unwrap();
        assert!(sink.wait_for("erin@example.com", WAIT).await.is_some());
    }

    #[tokio::test]
    async fn implicit_tls_to_a_plaintext_server_fails_cleanly() {
        // The TLS handshake really starts (no rustls provider panic) and fails on the plaintext
        // greeting.
        let sink = SmtpSink::start().unwrap();
        let config = SmtpConfig::new("127.0.0.1").tls(SmtpTls::Implicit).port(sink.addr().port());
        let mailer = SmtpMailer::new(config.timeout(Duration::from_secs(5)), FROM).unwrap();
        let error = mailer.send(&Email::new("judy@example.com", "Hi", "x")).await.unwrap_err();
        assert!(matches!(error, MailError::Transport(_)), "{error:?}");
        assert!(sink.messages().is_empty());
    }

    #[tokio::test]
    async fn file_mailer_writes_parseable_eml_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("outbox");
        let mailer =
            EmailBackend::parse(&format!("file:{}", dir.display())).unwrap().into_mailer(FROM).unwrap();
        let link = long_link();
        let templates = DefaultTemplates::new("Acme");
        let verify = templates.email_verification("frank@example.com", &link, chrono::Duration::hours(24));
        mailer.send(&verify).await.unwrap();
        mailer.send(&templates.password_changed("grace@example.com")).await.unwrap();

        let mails = read_eml_dir(&dir).unwrap();
        assert_eq!(mails.len(), 2);
        let first = &mails[0];
        assert_eq!(first.from, "no-reply@example.com");
        assert_eq!(first.to, ["frank@example.com"]);
        assert_eq!(first.subject().as_deref(), Some("[Acme] Verify your email address"));
        assert_eq!(first.find_link("https://app.example.com/").as_deref(), Some(link.as_str()));
        assert!(first.html().unwrap().contains(&link), "the HTML part decodes too");
        assert_eq!(mails[1].subject().as_deref(), Some("[Acme] Your password was changed"));

        let found = wait_for_eml(&dir, "GRACE@example.com", WAIT).await.expect("found");
        assert_eq!(found.to, ["grace@example.com"]);
        assert!(wait_for_eml(&dir, "nobody@example.com", Duration::from_millis(50)).await.is_none());
        assert!(
            wait_for_eml(&tmp.path().join("missing"), "a@b.c", Duration::from_millis(50)).await.is_none()
        );

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for entry in std::fs::read_dir(&dir).unwrap() {
                let mode = entry.unwrap().metadata().unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600);
            }
        }
    }

    #[tokio::test]
    async fn eml_files_are_full_messages() {
        let tmp = tempfile::tempdir().unwrap();
        let mailer = FileMailer::new(tmp.path(), FROM).unwrap();
        let path = mailer.write(&Email::new("heidi@example.com", "Plain", "just text")).await.unwrap();
        let raw = std::fs::read_to_string(path).unwrap();
        for header in [
            "From: ",
            "To: heidi@example.com",
            "Subject: Plain",
            "Date: ",
            "Message-ID: ",
            "MIME-Version: 1.0",
        ] {
            assert!(raw.contains(header), "{header} in {raw}");
        }
        let mail = &read_eml_dir(tmp.path()).unwrap()[0];
        assert_eq!(mail.text().trim_end(), "just text");
        assert_eq!(mail.html(), None);
    }
}
