//! The token a command sends: `--token` (or `ORGSTREAM_TOKEN`), else one minted here with the
//! secret, as `npm run token` does: `TOKEN_SECRET` from the environment, else from the `.dev.vars`
//! of this directory or the nearest one above it (what `npm run setup` writes).

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{encode, EncodingKey, Header};
use serde::Serialize;

use crate::failure::Failure;

/// Who a minted token is for, and for how long.
#[derive(Clone, Debug)]
pub struct Minting {
    pub org: String,
    pub sub: String,
    pub scope: String,
    pub ttl_seconds: u64,
}

#[derive(Serialize)]
struct Claims<'a> {
    org: &'a str,
    sub: &'a str,
    scope: &'a str,
    iat: u64,
    exp: u64,
}

/// A token signed with `secret` (HS256).
pub fn mint(minting: &Minting, secret: &str) -> Result<String, Failure> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let claims = Claims {
        org: &minting.org,
        sub: &minting.sub,
        scope: &minting.scope,
        iat: now,
        exp: now.saturating_add(minting.ttl_seconds),
    };
    encode(&Header::default(), &claims, &EncodingKey::from_secret(secret.as_bytes()))
        .map_err(|e| Failure::Usage(format!("cannot sign a token: {e}")))
}

/// The secret to mint with: `TOKEN_SECRET`, else (for a worker on this machine only: `local`)
/// the nearest `.dev.vars`, which holds a local worker's secret and no deployed one's.
pub fn secret(local: bool) -> Result<String, Failure> {
    if let Ok(secret) = std::env::var("TOKEN_SECRET") {
        if !secret.is_empty() {
            return Ok(secret);
        }
    }
    if !local {
        return Err(Failure::Usage(
            "no secret to sign a token with for a worker elsewhere: set TOKEN_SECRET to its secret, or pass --token (a .dev.vars is used only for a worker on this machine)".into(),
        ));
    }
    let here =
        std::env::current_dir().map_err(|e| Failure::Usage(format!("cannot read the current directory: {e}")))?;
    for dir in here.ancestors() {
        let file = dir.join(".dev.vars");
        if let Some(secret) = read_dev_vars(&file) {
            return Ok(secret);
        }
    }
    Err(Failure::Usage(
        "no secret to sign a token with: set TOKEN_SECRET, run this inside the orgstream checkout (after npm run setup writes .dev.vars), or pass --token"
            .into(),
    ))
}

/// `TOKEN_SECRET` from a `.dev.vars` file (`NAME=value` lines, the value optionally quoted).
fn read_dev_vars(file: &Path) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|line| {
        let value = line.trim().strip_prefix("TOKEN_SECRET")?.trim_start().strip_prefix('=')?.trim();
        let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
        (!value.is_empty()).then(|| value.to_string())
    })
}

/// `90s`, `30m`, `24h`, `7d` as seconds.
pub fn parse_ttl(text: &str) -> Result<u64, String> {
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: a number and s, m, h or d (90s, 30m, 24h, 7d)")),
    };
    number
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .map(|n| n * scale)
        .ok_or_else(|| format!("{text:?}: a number and s, m, h or d (90s, 30m, 24h, 7d)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls() {
        assert_eq!(parse_ttl("90s"), Ok(90));
        assert_eq!(parse_ttl("24h"), Ok(86_400));
        assert_eq!(parse_ttl("7d"), Ok(604_800));
        for bad in ["", "h", "0h", "1y", "-1h", "1.5h"] {
            assert!(parse_ttl(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn dev_vars_lines() -> Result<(), std::io::Error> {
        let dir = std::env::temp_dir().join(format!("orgstream-cli-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let file = dir.join(".dev.vars");
        std::fs::write(&file, "DEV_MODE=\"true\"\nTOKEN_SECRET = \"abc123\"\n")?;
        assert_eq!(read_dev_vars(&file).as_deref(), Some("abc123"));
        std::fs::write(&file, "TOKEN_SECRET_PREVIOUS=\"old\"\n")?;
        assert_eq!(read_dev_vars(&file), None, "another variable is not the secret");
        std::fs::remove_dir_all(&dir)
    }
}
