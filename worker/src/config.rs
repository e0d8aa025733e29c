//! The worker's settings (contract 5), read from Wrangler vars with the documented defaults.

use crate::replay::Retention;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub heartbeat_interval_ms: u64,
    pub retry_ms: u64,
    pub retention: Retention,
    /// Live frames one stream's client may leave unread before it is cut off as too slow
    /// (`MAX_UNREAD_FRAMES`).
    pub max_unread_frames: usize,
    /// Bytes of live frames one stream's client may leave unread before it is cut off
    /// (`MAX_UNREAD_BYTES`).
    pub max_unread_bytes: usize,
    /// Connections older than this are closed politely (clients reconnect and resume).
    pub max_connection_age_ms: u64,
    /// A stream that was written nothing for this long gets a one-line comment, so a client that
    /// left is noticed (the runtime tells only at a write); 0: only heartbeats tell.
    pub liveness_probe_ms: u64,
    /// What one token subject (`sub`) may do, and how many streams the org may hold.
    pub limits: SubLimits,
    /// How many queued events the hub sends a stream in one message.
    pub coalesce: Coalesce,
    /// Relay objects per org that hold its streams (`RELAYS_PER_ORG`); 1: the hub holds them.
    pub relays_per_org: u32,
}

/// The bound of one coalesced message: events queued while the hub was busy go to each stream
/// together, at most `frames` frames and `bytes` bytes of frames per message (a message always
/// holds at least one frame, however large).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Coalesce {
    pub frames: usize,
    pub bytes: usize,
}

/// How many open streams one subject, and one org, may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamLimits {
    pub per_sub: usize,
    pub per_org: usize,
}

/// Limits per token subject: streams open at once, and requests per minute of each kind. One
/// user, or one leaked token, cannot exhaust the org's hub.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubLimits {
    pub streams: StreamLimits,
    pub connects_per_minute: u32,
    pub history_per_minute: u32,
    pub publishes_per_minute: u32,
    /// Request ids one subject may own at once (`hub::ownership`).
    pub request_ids_per_sub: u32,
}

/// A var that is set but not usable; the message names it and says what is allowed.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

pub const DEFAULT_HEARTBEAT_INTERVAL_MS: u64 = 15_000;
pub const DEFAULT_RETRY_MS: u64 = 1_000;
pub const DEFAULT_HISTORY_MAX_EVENTS: u64 = 10_000;
pub const DEFAULT_HISTORY_MAX_AGE_SECONDS: u64 = 86_400;
pub const DEFAULT_MAX_UNREAD_FRAMES: u64 = 1_024;
pub const DEFAULT_MAX_UNREAD_BYTES: u64 = 1_048_576;
pub const DEFAULT_MAX_CONNECTION_AGE_SECONDS: u64 = 3_600;
pub const DEFAULT_LIVENESS_PROBE_MS: u64 = 500;
pub const DEFAULT_MAX_STREAMS_PER_SUB: u64 = 16;
pub const DEFAULT_MAX_STREAMS_PER_ORG: u64 = 10_000;
pub const DEFAULT_SUB_CONNECTS_PER_MINUTE: u64 = 120;
pub const DEFAULT_SUB_HISTORY_PER_MINUTE: u64 = 600;
pub const DEFAULT_SUB_PUBLISHES_PER_MINUTE: u64 = 60_000;
pub const DEFAULT_MAX_REQUEST_IDS_PER_SUB: u64 = 64;
pub const DEFAULT_COALESCE_MAX_FRAMES: u64 = 256;
pub const DEFAULT_COALESCE_MAX_BYTES: u64 = 524_288;
pub const DEFAULT_RELAYS_PER_ORG: u64 = 1;
/// The most relays one org may have: past 64 the hub's hand-offs cost more than the fan-out they
/// spread (docs/scale.md).
pub const MAX_RELAYS_PER_ORG: u64 = 64;

/// Vars renamed since a release, `(name, older name)`: the older name is still read. The unread
/// limits were named for a queue in the hub, before the front worker held the streams.
pub const RENAMED: [(&str, &str); 2] =
    [("MAX_UNREAD_FRAMES", "QUEUE_MAX_FRAMES"), ("MAX_UNREAD_BYTES", "QUEUE_MAX_BYTES")];

impl Config {
    /// Builds the config from a lookup of var names (`None` = unset: use the default).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        // A var that was renamed is still read under its older name, unless both are set.
        for (name, older) in RENAMED {
            if get(name).is_some() && get(older).is_some() {
                return Err(ConfigError(format!(
                    "{older} is the older name of {name}, and both are set; keep only {name}"
                )));
            }
        }
        // The value of `name` and the name it was set under.
        let get = |name: &'static str| match get(name) {
            Some(raw) => Some((name, raw)),
            None => RENAMED.iter().find(|(new, _)| *new == name).and_then(|(_, older)| Some((*older, get(older)?))),
        };
        let num = |name: &'static str, default: u64, min: u64, max: u64| -> Result<u64, ConfigError> {
            let Some((name, raw)) = get(name) else { return Ok(default) };
            match raw.trim().parse::<u64>() {
                Ok(v) if (min..=max).contains(&v) => Ok(v),
                _ => Err(ConfigError(format!(
                    "{name} must be an integer from {min} to {max}, got {raw:?}; fix it in wrangler.toml [vars] or --var {name}:VALUE"
                ))),
            }
        };
        // 0 reads as 1: both mean the hub holds the streams.
        let relays_per_org = num("RELAYS_PER_ORG", DEFAULT_RELAYS_PER_ORG, 0, MAX_RELAYS_PER_ORG)?.max(1);
        let config = Config {
            heartbeat_interval_ms: num("HEARTBEAT_INTERVAL_MS", DEFAULT_HEARTBEAT_INTERVAL_MS, 10, 3_600_000)?,
            retry_ms: num("RETRY_MS", DEFAULT_RETRY_MS, 0, 3_600_000)?,
            retention: Retention {
                max_events: num("HISTORY_MAX_EVENTS", DEFAULT_HISTORY_MAX_EVENTS, 1, 10_000_000)?,
                max_age_ms: num("HISTORY_MAX_AGE_SECONDS", DEFAULT_HISTORY_MAX_AGE_SECONDS, 1, 365 * 86_400)? * 1000,
            },
            max_unread_frames: num("MAX_UNREAD_FRAMES", DEFAULT_MAX_UNREAD_FRAMES, 1, 1_000_000)? as usize,
            max_unread_bytes: num("MAX_UNREAD_BYTES", DEFAULT_MAX_UNREAD_BYTES, 131_072, 64 * 1_048_576)? as usize,
            max_connection_age_ms: num(
                "MAX_CONNECTION_AGE_SECONDS",
                DEFAULT_MAX_CONNECTION_AGE_SECONDS,
                1,
                7 * 86_400,
            )? * 1000,
            liveness_probe_ms: num("LIVENESS_PROBE_MS", DEFAULT_LIVENESS_PROBE_MS, 0, 3_600_000)?,
            limits: SubLimits {
                streams: StreamLimits {
                    per_sub: num("MAX_STREAMS_PER_SUB", DEFAULT_MAX_STREAMS_PER_SUB, 1, 1_000_000)? as usize,
                    // A Durable Object holds at most 32,768 hibernatable sockets; each relay holds
                    // a share of the org's.
                    per_org: num("MAX_STREAMS_PER_ORG", DEFAULT_MAX_STREAMS_PER_ORG, 1, 32_768 * relays_per_org)?
                        as usize,
                },
                connects_per_minute: num("SUB_CONNECTS_PER_MINUTE", DEFAULT_SUB_CONNECTS_PER_MINUTE, 1, 1_000_000)?
                    as u32,
                history_per_minute: num("SUB_HISTORY_PER_MINUTE", DEFAULT_SUB_HISTORY_PER_MINUTE, 1, 1_000_000)? as u32,
                publishes_per_minute: num("SUB_PUBLISHES_PER_MINUTE", DEFAULT_SUB_PUBLISHES_PER_MINUTE, 1, 1_000_000)?
                    as u32,
                request_ids_per_sub: num("MAX_REQUEST_IDS_PER_SUB", DEFAULT_MAX_REQUEST_IDS_PER_SUB, 1, 1_000_000)?
                    as u32,
            },
            coalesce: Coalesce {
                frames: num("COALESCE_MAX_FRAMES", DEFAULT_COALESCE_MAX_FRAMES, 1, 100_000)? as usize,
                bytes: num("COALESCE_MAX_BYTES", DEFAULT_COALESCE_MAX_BYTES, 1_024, 16 * 1_048_576)? as usize,
            },
            relays_per_org: relays_per_org as u32,
        };
        // A request id stays its owner's while it is used; a stream uses its id for its whole
        // life, so the retention that forgets unused ids must outlast the longest stream.
        if config.retention.max_age_ms < config.max_connection_age_ms {
            return Err(ConfigError(format!(
                "HISTORY_MAX_AGE_SECONDS ({}) must be at least MAX_CONNECTION_AGE_SECONDS ({}): a stream's requestId must stay its owner's while the stream is open; raise the first or lower the second",
                config.retention.max_age_ms / 1000,
                config.max_connection_age_ms / 1000
            )));
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_vars(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = from(&[]).unwrap();
        assert_eq!(c.heartbeat_interval_ms, 15_000);
        assert_eq!(c.retry_ms, 1_000);
        assert_eq!(c.retention, Retention { max_events: 10_000, max_age_ms: 86_400_000 });
        assert_eq!((c.max_unread_frames, c.max_unread_bytes, c.max_connection_age_ms), (1_024, 1_048_576, 3_600_000));
        assert_eq!(c.liveness_probe_ms, 500);
        assert_eq!(c.limits.streams, StreamLimits { per_sub: 16, per_org: 10_000 });
        assert_eq!(
            (c.limits.connects_per_minute, c.limits.history_per_minute, c.limits.publishes_per_minute),
            (120, 600, 60_000)
        );
        assert_eq!(c.coalesce, Coalesce { frames: 256, bytes: 524_288 });
        assert_eq!(c.relays_per_org, 1);
        assert_eq!(from(&[("RELAYS_PER_ORG", "0")]).unwrap().relays_per_org, 1);
        assert_eq!(from(&[("RELAYS_PER_ORG", "4")]).unwrap().relays_per_org, 4);
        assert!(from(&[("RELAYS_PER_ORG", "65")]).is_err());
        assert!(from(&[("MAX_STREAMS_PER_ORG", "40000")]).is_err(), "one object's sockets");
        let four = from(&[("RELAYS_PER_ORG", "4"), ("MAX_STREAMS_PER_ORG", "100000")]).unwrap();
        assert_eq!(four.limits.streams.per_org, 100_000, "four relays hold four objects' sockets");
    }

    #[test]
    fn limits_are_settings_too() {
        let c = from(&[("MAX_STREAMS_PER_SUB", "2"), ("SUB_PUBLISHES_PER_MINUTE", "10")]).unwrap();
        assert_eq!((c.limits.streams.per_sub, c.limits.publishes_per_minute), (2, 10));
        assert!(from(&[("MAX_STREAMS_PER_ORG", "0")]).unwrap_err().0.contains("MAX_STREAMS_PER_ORG"));
    }

    #[test]
    fn retention_must_outlast_the_longest_stream() {
        let e = from(&[("HISTORY_MAX_AGE_SECONDS", "60"), ("MAX_CONNECTION_AGE_SECONDS", "61")]).unwrap_err();
        assert!(
            e.0.contains("HISTORY_MAX_AGE_SECONDS (60) must be at least MAX_CONNECTION_AGE_SECONDS (61)"),
            "{}",
            e.0
        );
        assert!(from(&[("HISTORY_MAX_AGE_SECONDS", "60"), ("MAX_CONNECTION_AGE_SECONDS", "60")]).is_ok());
        assert_eq!(from(&[]).unwrap().limits.request_ids_per_sub, 64);
    }

    #[test]
    fn overrides_and_bad_values() {
        assert_eq!(from(&[("HEARTBEAT_INTERVAL_MS", "200")]).unwrap().heartbeat_interval_ms, 200);
        let e = from(&[("HISTORY_MAX_EVENTS", "lots")]).unwrap_err();
        assert!(e.0.contains("HISTORY_MAX_EVENTS") && e.0.contains("lots"));
        assert!(from(&[("HEARTBEAT_INTERVAL_MS", "0")]).is_err());
    }

    #[test]
    fn a_renamed_var_is_still_read_under_its_older_name() {
        assert_eq!(from(&[("MAX_UNREAD_BYTES", "200000")]).unwrap().max_unread_bytes, 200_000);
        assert_eq!(from(&[("QUEUE_MAX_BYTES", "200000")]).unwrap().max_unread_bytes, 200_000);
        assert_eq!(from(&[("QUEUE_MAX_FRAMES", "7")]).unwrap().max_unread_frames, 7);
        let e = from(&[("QUEUE_MAX_BYTES", "1")]).unwrap_err();
        assert!(e.0.starts_with("QUEUE_MAX_BYTES must be an integer from 131072"), "{}", e.0);
        let e = from(&[("QUEUE_MAX_FRAMES", "7"), ("MAX_UNREAD_FRAMES", "7")]).unwrap_err();
        assert_eq!(
            e.0,
            "QUEUE_MAX_FRAMES is the older name of MAX_UNREAD_FRAMES, and both are set; keep only MAX_UNREAD_FRAMES"
        );
    }
}
