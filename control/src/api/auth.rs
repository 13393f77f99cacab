//! Bearer-token authentication: the admin token, a static token file, and agents' join tokens.
//!
//! The [`Authenticator`] keeps only SHA-256 digests of the tokens it accepts. A lookup hashes
//! the presented token and finds the digest in a map; comparing digests leaks nothing useful
//! about a token through timing, since finding a token with a given digest prefix is as hard
//! as guessing it. Tokens never appear in errors, `Debug` output or logs.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock};

use sha2::{Digest, Sha256};

/// The group every authenticated user is in, as in Kubernetes.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";
/// The group whose members may do anything (RBAC grants it everything, as in Kubernetes).
pub const MASTERS_GROUP: &str = "system:masters";
/// The group of agents presenting a join token.
pub const BOOTSTRAPPERS_GROUP: &str = "system:bootstrappers";
/// The group of node agents.
pub const NODES_GROUP: &str = "system:nodes";
/// The file in the data directory that holds the admin token.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
}

/// Why a request could not be authenticated, or a token source could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The request has no `Authorization` header.
    #[error("the request carries no credentials")]
    MissingCredentials,
    /// The `Authorization` header uses a scheme other than `Bearer`. The header is not quoted:
    /// a client that forgot the scheme sends its token as the first word.
    #[error("the authorization scheme is not Bearer")]
    UnsupportedScheme,
    /// `Authorization: Bearer` with nothing after it.
    #[error("the bearer token is empty")]
    EmptyToken,
    /// A well-formed bearer token this server does not know.
    #[error("the bearer token is not valid")]
    UnknownToken,
    #[error("cannot read the token file {path}")]
    ReadTokenFile {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A line of a token file is malformed; nothing from the file was loaded.
    #[error("{}, line {line}: {problem}", path.display())]
    TokenFile {
        path: PathBuf,
        line: usize,
        #[source]
        problem: TokenLineError,
    },
    #[error("cannot read the token file {path}")]
    ReadAdminToken {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the token file {path} is empty")]
    EmptyAdminToken { path: PathBuf },
    #[error("cannot write the token file {path}")]
    WriteAdminToken {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the system's random number generator failed")]
    Random(#[source] getrandom::Error),
    /// Not of the form `[a-z0-9]{6}.[a-z0-9]{16}`. The text is not quoted: it may be a secret.
    #[error("a join token has the form [a-z0-9]{{6}}.[a-z0-9]{{16}}")]
    InvalidJoinToken,
}

impl AuthError {
    /// Whether this is a request's failure to authenticate (401) rather than a failure to
    /// load a token source.
    pub fn is_unauthenticated(&self) -> bool {
        matches!(
            self,
            AuthError::MissingCredentials
                | AuthError::UnsupportedScheme
                | AuthError::EmptyToken
                | AuthError::UnknownToken
        )
    }
}

/// What is wrong with one line of a static token file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenLineError {
    #[error("expected at least 3 columns (token,user,uid), found {found}")]
    TooFewColumns { found: usize },
    #[error("the token is empty")]
    EmptyToken,
    #[error("the user name is empty")]
    EmptyUser,
    #[error("a quoted field is not closed")]
    UnterminatedQuote,
    #[error("a quote in the middle of an unquoted field")]
    StrayQuote,
    #[error("text after the closing quote of a field")]
    TextAfterQuote,
    #[error("the same token is on line {first}")]
    DuplicateToken { first: usize },
}

type TokenDigest = [u8; 32];

fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

/// The tokens this server accepts and the user each one stands for. Thread-safe; share it in
/// an `Arc`. Tokens can be added while the server runs (join tokens are created later).
#[derive(Default)]
pub struct Authenticator {
    tokens: RwLock<HashMap<TokenDigest, User>>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tokens = self.read().len();
        f.debug_struct("Authenticator")
            .field("tokens", &tokens)
            .finish()
    }
}

impl Authenticator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts `token` as `user` from now on. A token added again stands for the new user.
    pub fn add_token(&self, token: &str, user: User) {
        self.write().insert(digest(token), user);
    }

    /// Loads a kube-apiserver static token file and returns how many tokens it held.
    ///
    /// Each line is CSV: `token,user,uid` and optionally a fourth column of groups,
    /// comma-separated and so quoted (`"group1,group2"`). Blank lines and lines starting with
    /// `#` are skipped; further columns are ignored. Stricter than kube-apiserver, an empty
    /// token or user name and a token given twice are errors rather than warnings. The file is
    /// loaded whole or not at all.
    pub fn load_token_file(&self, path: &Path) -> Result<usize, AuthError> {
        let text = std::fs::read_to_string(path).map_err(|source| AuthError::ReadTokenFile {
            path: path.to_owned(),
            source,
        })?;
        let entries = parse_token_file(&text).map_err(|(line, problem)| AuthError::TokenFile {
            path: path.to_owned(),
            line,
            problem,
        })?;
        let count = entries.len();
        self.write().extend(entries);
        tracing::debug!(path = %path.display(), tokens = count, "loaded a static token file");
        Ok(count)
    }

    /// Authenticates a request from its `Authorization` header: `Bearer <token>`, the scheme
    /// in any case. The user gets the group `system:authenticated` besides its own.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<User, AuthError> {
        let token = bearer_token(authorization)?;
        let mut user = self
            .read()
            .get(&digest(token))
            .cloned()
            .ok_or(AuthError::UnknownToken)?;
        if !user.groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
            user.groups.push(AUTHENTICATED_GROUP.to_owned());
        }
        Ok(user)
    }

    // Every write is a single insert or extend, so a panic elsewhere while a guard was held
    // cannot leave the map half-changed; a poisoned lock is used as it is.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<TokenDigest, User>> {
        self.tokens.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<TokenDigest, User>> {
        self.tokens.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer_token(authorization: Option<&str>) -> Result<&str, AuthError> {
    let header = authorization.ok_or(AuthError::MissingCredentials)?.trim();
    let (scheme, rest) = header
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::UnsupportedScheme);
    }
    let token = rest.trim();
    if token.is_empty() {
        return Err(AuthError::EmptyToken);
    }
    Ok(token)
}

/// Parses a static token file into (digest, user) pairs, or names the first bad line.
fn parse_token_file(text: &str) -> Result<Vec<(TokenDigest, User)>, (usize, TokenLineError)> {
    let mut entries = Vec::new();
    let mut first_line: HashMap<TokenDigest, usize> = HashMap::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let fields = split_csv_line(line).map_err(|problem| (number, problem))?;
        let (token, user) = token_entry(&fields).map_err(|problem| (number, problem))?;
        let key = digest(&token);
        if let Some(&first) = first_line.get(&key) {
            return Err((number, TokenLineError::DuplicateToken { first }));
        }
        first_line.insert(key, number);
        entries.push((key, user));
    }
    Ok(entries)
}

fn token_entry(fields: &[String]) -> Result<(String, User), TokenLineError> {
    let [token, name, uid, rest @ ..] = fields else {
        return Err(TokenLineError::TooFewColumns {
            found: fields.len(),
        });
    };
    if token.is_empty() {
        return Err(TokenLineError::EmptyToken);
    }
    if name.is_empty() {
        return Err(TokenLineError::EmptyUser);
    }
    let groups = match rest.first() {
        Some(groups) => groups
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(str::to_owned)
            .collect(),
        None => Vec::new(),
    };
    let user = User {
        name: name.clone(),
        uid: uid.clone(),
        groups,
    };
    Ok((token.clone(), user))
}

/// Splits one CSV record (RFC 4180 quoting, `""` for a quote inside quotes). Leading spaces of
/// a field are dropped, as kube-apiserver's reader does.
fn split_csv_line(line: &str) -> Result<Vec<String>, TokenLineError> {
    let mut fields = Vec::new();
    let mut rest = line;
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        let (field, after) = if let Some(quoted) = rest.strip_prefix('"') {
            let mut field = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next() {
                    None => return Err(TokenLineError::UnterminatedQuote),
                    Some((i, '"')) => {
                        if quoted[i + 1..].starts_with('"') {
                            field.push('"');
                            chars.next();
                        } else {
                            break i + 1;
                        }
                    }
                    Some((_, c)) => field.push(c),
                }
            };
            let after = quoted[end..].trim_end_matches([' ', '\t']);
            if !(after.is_empty() || after.starts_with(',')) {
                return Err(TokenLineError::TextAfterQuote);
            }
            (field, after)
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let field = &rest[..end];
            if field.contains('"') {
                return Err(TokenLineError::StrayQuote);
            }
            (field.trim_end().to_owned(), &rest[end..])
        };
        fields.push(field);
        match after.strip_prefix(',') {
            Some(next) => rest = next,
            None => return Ok(fields),
        }
    }
}

/// Reads the admin token from `dir/admin.token`, or creates it (32 random bytes, hex) with mode
/// 0600 on first start, so kubeconfigs written earlier stay valid across restarts.
pub fn load_or_create_admin_token(dir: &Path) -> Result<String, AuthError> {
    load_or_create_secret(&dir.join(ADMIN_TOKEN_FILE), "admin token", || {
        Ok(hex(&random_bytes::<32>()?))
    })
}

/// The file in the PKI directory holding the join token agents present.
pub const JOIN_TOKEN_FILE: &str = "join.token";

/// Reads the cluster's join token from `dir/join.token`, or creates it (mode 0600) on first
/// start. Agents present it to register their node and run its pods.
pub fn load_or_create_join_token(dir: &Path) -> Result<JoinToken, AuthError> {
    let text = load_or_create_secret(&dir.join(JOIN_TOKEN_FILE), "join token", || {
        JoinToken::generate().map(|t| t.to_string())
    })?;
    JoinToken::parse(&text)
}

/// The first line of a private file, created (mode 0600) with `generate`'s text if absent.
fn load_or_create_secret(
    path: &Path,
    what: &str,
    generate: impl FnOnce() -> Result<String, AuthError>,
) -> Result<String, AuthError> {
    let path = path.to_owned();
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let secret = text.trim();
            if secret.is_empty() {
                return Err(AuthError::EmptyAdminToken { path });
            }
            Ok(secret.to_owned())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let secret = generate()?;
            super::kubeconfig::write_private(&path, format!("{secret}\n").as_bytes()).map_err(
                |source| AuthError::WriteAdminToken {
                    path: path.clone(),
                    source,
                },
            )?;
            tracing::info!(path = %path.display(), "created the {what}");
            Ok(secret)
        }
        Err(source) => Err(AuthError::ReadAdminToken { path, source }),
    }
}

/// The user the admin token stands for: in `system:masters`, so RBAC allows it everything.
pub fn admin_user() -> User {
    User {
        name: "admin".to_owned(),
        uid: "admin".to_owned(),
        groups: vec![MASTERS_GROUP.to_owned()],
    }
}

/// A join token in Kubernetes bootstrap-token form, `<id>.<secret>`: six and sixteen characters
/// of `[a-z0-9]`. The id is public (it names the token); the secret is not, and `Debug` leaves
/// it out. `Display` shows the whole token, for handing it to whoever runs the agent.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken {
    pub id: String,
    pub secret: String,
}

const JOIN_ID_LEN: usize = 6;
const JOIN_SECRET_LEN: usize = 16;
const JOIN_ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

impl JoinToken {
    /// A new token from the system's random number generator.
    pub fn generate() -> Result<JoinToken, AuthError> {
        Ok(JoinToken {
            id: random_join_chars(JOIN_ID_LEN)?,
            secret: random_join_chars(JOIN_SECRET_LEN)?,
        })
    }

    /// Parses `<id>.<secret>`; surrounding whitespace is ignored.
    pub fn parse(text: &str) -> Result<JoinToken, AuthError> {
        let valid = |part: &str, len: usize| {
            part.len() == len
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        };
        match text.trim().split_once('.') {
            Some((id, secret)) if valid(id, JOIN_ID_LEN) && valid(secret, JOIN_SECRET_LEN) => {
                Ok(JoinToken {
                    id: id.to_owned(),
                    secret: secret.to_owned(),
                })
            }
            _ => Err(AuthError::InvalidJoinToken),
        }
    }
}

impl fmt::Display for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.id, self.secret)
    }
}

impl fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinToken")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The user a join token with this id stands for: `system:bootstrap:<id>` in
/// `system:bootstrappers`, with no uid, as Kubernetes' bootstrap-token authenticator has it.
pub fn join_user(id: &str) -> User {
    User {
        name: format!("system:bootstrap:{id}"),
        uid: String::new(),
        groups: vec![BOOTSTRAPPERS_GROUP.to_owned()],
    }
}

fn random_bytes<const N: usize>() -> Result<[u8; N], AuthError> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(AuthError::Random)?;
    Ok(bytes)
}

/// `len` characters drawn uniformly from [`JOIN_ALPHABET`]: bytes of 252 and above are
/// rejected so that each of the 36 characters is equally likely.
fn random_join_chars(len: usize) -> Result<String, AuthError> {
    let limit = 256 - 256 % JOIN_ALPHABET.len();
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in random_bytes::<32>()? {
            if usize::from(b) < limit && out.len() < len {
                out.push(char::from(
                    JOIN_ALPHABET[usize::from(b) % JOIN_ALPHABET.len()],
                ));
            }
        }
    }
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            use std::fmt::Write as _;
            let _ = write!(out, "{b:02x}");
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, groups: &[&str]) -> User {
        User {
            name: name.to_owned(),
            uid: format!("uid-{name}"),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        }
    }

    fn load(text: &str) -> (Authenticator, Result<usize, AuthError>) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("tokens.csv");
        std::fs::write(&path, text).expect("write token file");
        let authenticator = Authenticator::new();
        let result = authenticator.load_token_file(&path);
        (authenticator, result)
    }

    fn line_error(text: &str) -> (usize, TokenLineError) {
        match load(text).1 {
            Err(AuthError::TokenFile { line, problem, .. }) => (line, problem),
            other => panic!("expected a line error, got {other:?}"),
        }
    }

    #[test]
    fn authenticates_a_bearer_token_in_any_case_of_the_scheme() {
        let authenticator = Authenticator::new();
        authenticator.add_token("s3cret", user("alice", &["dev"]));
        for header in [
            "Bearer s3cret",
            "bearer s3cret",
            "BEARER  s3cret ",
            " Bearer\ts3cret",
        ] {
            let got = authenticator.authenticate(Some(header)).expect(header);
            assert_eq!(
                got,
                user("alice", &["dev", AUTHENTICATED_GROUP]),
                "{header}"
            );
        }
    }

    #[test]
    fn each_failure_has_its_own_error() {
        let authenticator = Authenticator::new();
        authenticator.add_token("s3cret", user("alice", &[]));
        let fails = |header| authenticator.authenticate(header).expect_err("must fail");
        assert!(matches!(fails(None), AuthError::MissingCredentials));
        assert!(matches!(fails(Some("")), AuthError::UnsupportedScheme));
        assert!(matches!(
            fails(Some("Basic YTpi")),
            AuthError::UnsupportedScheme
        ));
        assert!(matches!(
            fails(Some("s3cret")),
            AuthError::UnsupportedScheme
        ));
        assert!(matches!(fails(Some("Bearer")), AuthError::EmptyToken));
        assert!(matches!(fails(Some("Bearer   ")), AuthError::EmptyToken));
        assert!(matches!(
            fails(Some("Bearer s3cre")),
            AuthError::UnknownToken
        ));
        assert!(matches!(
            fails(Some("Bearer s3cret2")),
            AuthError::UnknownToken
        ));
        assert!(fails(None).is_unauthenticated());
        assert!(fails(Some("Bearer nope")).is_unauthenticated());
    }

    #[test]
    fn tokens_appear_in_no_message_or_debug_output() {
        let authenticator = Authenticator::new();
        authenticator.add_token("t0p-secret", user("alice", &[]));
        assert!(!format!("{authenticator:?}").contains("t0p-secret"));
        for header in ["t0p-secret", "Bearer t0p-secret-x"] {
            let error = authenticator.authenticate(Some(header)).expect_err(header);
            assert!(!format!("{error} {error:?}").contains("t0p"), "{error:?}");
        }
        let join = JoinToken::parse("abcdef.0123456789abcdef").expect("valid");
        assert!(!format!("{join:?}").contains("0123456789abcdef"));
        let error = JoinToken::parse("abcdef.0123456789abcdeF").expect_err("invalid");
        assert!(!format!("{error} {error:?}").contains("0123456789"));
    }

    #[test]
    fn tokens_added_later_are_accepted_and_replace_earlier_users() {
        let authenticator = Authenticator::new();
        assert!(authenticator.authenticate(Some("Bearer t")).is_err());
        authenticator.add_token("t", user("first", &[]));
        authenticator.add_token("t", user("second", &[]));
        let got = authenticator.authenticate(Some("Bearer t")).expect("known");
        assert_eq!(got.name, "second");
    }

    #[test]
    fn loads_a_static_token_file() {
        let text = "\
# token,user,uid,groups
abc,alice,uid-alice,\"dev,ops\"

  def, bob ,2
ghi,carol,3,\"\",ignored
\"q\"\"uote\",dave,4,single
";
        let (authenticator, result) = load(text);
        assert_eq!(result.expect("loads"), 4);
        let who = |token: &str| {
            authenticator
                .authenticate(Some(&format!("Bearer {token}")))
                .expect(token)
        };
        assert_eq!(
            who("abc"),
            user("alice", &["dev", "ops", AUTHENTICATED_GROUP])
        );
        let bob = who("def");
        assert_eq!((bob.name.as_str(), bob.uid.as_str()), ("bob", "2"));
        assert_eq!(bob.groups, [AUTHENTICATED_GROUP]);
        assert_eq!(who("ghi").groups, [AUTHENTICATED_GROUP]);
        assert_eq!(who("q\"uote").groups, ["single", AUTHENTICATED_GROUP]);
    }

    #[test]
    fn a_bad_line_names_the_file_and_line_and_loads_nothing() {
        let (authenticator, result) = load("good,alice,1\n\n# note\nbad,bob\n");
        let error = result.expect_err("line 4 is short");
        assert!(
            error.to_string().ends_with(
                "tokens.csv, line 4: expected at least 3 columns (token,user,uid), found 2"
            ),
            "{error}"
        );
        assert!(authenticator.authenticate(Some("Bearer good")).is_err());
    }

    #[test]
    fn malformed_lines() {
        use TokenLineError::*;
        assert_eq!(line_error("x,a,1\nonly"), (2, TooFewColumns { found: 1 }));
        assert_eq!(line_error(",alice,1"), (1, EmptyToken));
        assert_eq!(line_error("t,,1"), (1, EmptyUser));
        assert_eq!(line_error("t,alice,1,\"dev"), (1, UnterminatedQuote));
        assert_eq!(line_error("t,al\"ice,1"), (1, StrayQuote));
        assert_eq!(line_error("t,\"alice\"x,1"), (1, TextAfterQuote));
        assert_eq!(
            line_error("t,alice,1\nu,bob,2\nt,carol,3"),
            (3, DuplicateToken { first: 1 })
        );
    }

    #[test]
    fn a_missing_token_file_is_a_read_error() {
        let authenticator = Authenticator::new();
        let error = authenticator
            .load_token_file(Path::new("/nonexistent/tokens.csv"))
            .expect_err("missing");
        assert!(
            matches!(error, AuthError::ReadTokenFile { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn the_admin_token_is_created_once_then_reused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let state = dir.path().join("state");
        let first = load_or_create_admin_token(&state).expect("created");
        assert_eq!(first.len(), 64);
        assert!(first.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(load_or_create_admin_token(&state).expect("loaded"), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(state.join(ADMIN_TOKEN_FILE))
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let other = tempfile::tempdir().expect("temp dir");
        assert_ne!(
            load_or_create_admin_token(other.path()).expect("created"),
            first
        );
    }

    #[test]
    fn an_empty_admin_token_file_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join(ADMIN_TOKEN_FILE), "\n").expect("write");
        assert!(matches!(
            load_or_create_admin_token(dir.path()),
            Err(AuthError::EmptyAdminToken { .. })
        ));
    }

    #[test]
    fn join_tokens_have_the_bootstrap_token_form() {
        for _ in 0..20 {
            let token = JoinToken::generate().expect("random");
            let text = token.to_string();
            assert_eq!(text.len(), 23, "{text}");
            assert_eq!(JoinToken::parse(&text).expect("parses"), token);
        }
        assert_ne!(
            JoinToken::generate().expect("random"),
            JoinToken::generate().expect("random")
        );
        let token = JoinToken::parse(" abc123.0123456789abcdef\n").expect("trimmed");
        assert_eq!(
            (token.id.as_str(), token.secret.as_str()),
            ("abc123", "0123456789abcdef")
        );
        for bad in [
            "",
            "abc123",
            "abc123.",
            "abc12.0123456789abcdef",
            "abc1234.0123456789abcdef",
            "abc123.0123456789abcde",
            "ABC123.0123456789abcdef",
            "abc123:0123456789abcdef",
            "abc123.0123456789abcdef.x",
            "abc-12.0123456789abcdef",
        ] {
            assert!(
                matches!(JoinToken::parse(bad), Err(AuthError::InvalidJoinToken)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn join_and_admin_users() {
        let join = join_user("abc123");
        assert_eq!(join.name, "system:bootstrap:abc123");
        assert_eq!(join.groups, [BOOTSTRAPPERS_GROUP]);
        let admin = admin_user();
        assert_eq!(
            (admin.name.as_str(), admin.uid.as_str()),
            ("admin", "admin")
        );
        assert_eq!(admin.groups, [MASTERS_GROUP]);
    }

    #[test]
    fn random_join_characters_cover_the_alphabet() {
        let text = random_join_chars(2000).expect("random");
        for &c in JOIN_ALPHABET {
            assert!(
                text.contains(char::from(c)),
                "{} never drawn",
                char::from(c)
            );
        }
    }
}
