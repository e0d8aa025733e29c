//! The catalog of publishable event types (contract section 3). One struct per type; the
//! `catalog!` table at the bottom ties each struct to its wire name.
//!
//! The structs validate; they do not carry the values (the published text is what is stored and
//! sent, as published). Adding a type: see docs/adding-an-event-type.md.

use serde::Deserialize;

use crate::error::{ErrorCode, ValidationError};
use crate::formats::{present, AnyString, BoundedMap, BoundedVec, Id, Integer, NonNegative, Numbers, Text, Time, Unit};

/// Rules that span more than one field, checked after the types themselves parsed.
pub trait Rules {
    fn check(&self) -> Result<(), ValidationError> {
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema), schemars(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct SchedulerTick {
    pub tick_at: Time,
    pub next_tick_at: Time,
    pub cadence_seconds: Integer<1>,
}
impl Rules for SchedulerTick {}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Queued,
    Fetching,
    Diffing,
    Classifying,
    Delivering,
    Completed,
    Failed,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema), schemars(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct RunStage {
    pub run_id: Id,
    pub stage: Stage,
    pub progress: Unit,
    #[serde(default)]
    pub vendor_id: Option<Id>,
    #[serde(default)]
    pub message: Option<Text<0, 1000>>,
}
impl Rules for RunStage {}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema), schemars(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct ChangeDetected {
    pub change_id: Id,
    pub vendor_id: Id,
    pub title: Text<1, 500>,
    pub severity: Severity,
    pub detected_at: Time,
    #[serde(default)]
    pub url: Option<Text<0, 2048>>,
}
impl Rules for ChangeDetected {}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Slack,
    Email,
    Webhook,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Delivered,
    Failed,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema), schemars(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct ActionDelivered {
    pub action_id: Id,
    pub change_id: Id,
    pub channel: Channel,
    pub status: DeliveryStatus,
    pub delivered_at: Time,
    #[serde(default)]
    pub error: Option<Text<0, 1000>>,
}
impl Rules for ActionDelivered {}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum ChangeState {
    New,
    Triaged,
    Acknowledged,
    Resolved,
    Dismissed,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema), schemars(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct ChangeStateChanged {
    pub change_id: Id,
    pub from: ChangeState,
    /// Must differ from `from`.
    pub to: ChangeState,
    pub changed_at: Time,
    #[serde(default)]
    pub actor: Option<Id>,
}
impl Rules for ChangeStateChanged {
    fn check(&self) -> Result<(), ValidationError> {
        if self.from == self.to {
            return Err(ValidationError::new("/to", ErrorCode::InvalidValue, "must differ from `from`"));
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Free,
    Team,
    Enterprise,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema), schemars(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct OrgEntitlementsChanged {
    pub plan: Plan,
    pub features: BoundedVec<Text<1, 64>, 100>,
    pub limits: BoundedMap<Integer<0>, 100>,
    pub effective_at: Time,
}
impl Rules for OrgEntitlementsChanged {}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum ReconciliationStatus {
    Verified,
    Stale,
    Discrepancy,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema), schemars(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct DiscrepancyDetails {
    pub expected: Numbers,
    pub actual: Numbers,
    pub missing_job_ids: BoundedVec<AnyString, { usize::MAX }>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema), schemars(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct ReconciliationUpdate {
    pub event_id: AnyString,
    pub service: AnyString,
    pub status: ReconciliationStatus,
    pub counts: Numbers,
    pub checksum: AnyString,
    pub latency_ms: NonNegative,
    #[serde(default)]
    pub discrepancy_details: Option<DiscrepancyDetails>,
}
impl Rules for ReconciliationUpdate {}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema), schemars(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct TaskProgress {
    pub task_id: Id,
    pub progress: Unit,
    #[serde(default)]
    pub message: Option<Text<0, 1000>>,
}
impl Rules for TaskProgress {}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema), schemars(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct TaskCompleted {
    pub task_id: Id,
    /// Any JSON value; an explicit `null` is kept.
    #[serde(default, deserialize_with = "present")]
    pub result: Option<serde_json::Value>,
}
impl Rules for TaskCompleted {}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema), schemars(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct TaskFailed {
    pub task_id: Id,
    pub error: Text<1, 1000>,
}
impl Rules for TaskFailed {}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema), schemars(deny_unknown_fields))]
#[serde(rename_all = "camelCase")]
pub struct VersionAvailable {
    pub version: Text<1, 64>,
    #[serde(default)]
    pub changelog: Option<Text<0, 10000>>,
}
impl Rules for VersionAvailable {}

/// Frames only the server sends (contract 3, "Server-generated frames"); publishing one is refused.
pub const SERVER_FRAME_TYPES: [&str; 5] =
    ["heartbeat", "stream.reset", "stream.replaced", "stream.overflow", "stream.expired"];

macro_rules! catalog {
    ($($variant:ident = $name:literal,)*) => {
        /// Every publishable type, in catalog order.
        pub const EVENT_TYPES: &[&str] = &[$($name,)*];

        /// Validates `json` as the `data` of an event of type `type_name`; `None` when the type is
        /// not in the catalog. `STRICT` refuses unknown fields (publishing); otherwise they are
        /// ignored (reading what a newer server sent).
        pub(crate) fn validate_data<const STRICT: bool>(
            type_name: &str,
            json: &str,
        ) -> Option<Result<&'static str, ValidationError>> {
            Some(match type_name {
                $($name => crate::parse::parse_typed::<$variant, STRICT>(json).map(|_| $name),)*
                _ => return None,
            })
        }

        /// The catalog's own spelling of `name`, when it is a catalog type.
        pub(crate) fn known_type(name: &str) -> Option<&'static str> {
            match name {
                $($name => Some($name),)*
                _ => None,
            }
        }

        /// Validates the next value of `map` as the `data` of `type_name`, tolerantly, in place
        /// (the one-pass envelope check; errors carry no path, the caller re-checks to find it).
        pub(crate) fn next_data<'de, A: serde::de::MapAccess<'de>>(type_name: &str, map: &mut A) -> Result<(), A::Error> {
            match type_name {
                $($name => map.next_value::<$variant>()?.check().map_err(|e| serde::de::Error::custom(e.message)),)*
                _ => Err(serde::de::Error::custom("unknown type")),
            }
        }

        /// `(type, struct name, JSON Schema of data)` for every type, in catalog order.
        #[cfg(feature = "schema")]
        pub fn data_schemas(generator: &mut schemars::SchemaGenerator) -> Vec<(&'static str, &'static str, schemars::Schema)> {
            vec![$(($name, stringify!($variant), generator.subschema_for::<$variant>()),)*]
        }
    };
}

catalog! {
    SchedulerTick = "scheduler.tick",
    RunStage = "run.stage",
    ChangeDetected = "change.detected",
    ActionDelivered = "action.delivered",
    ChangeStateChanged = "change.stateChanged",
    OrgEntitlementsChanged = "org.entitlements.changed",
    ReconciliationUpdate = "reconciliation.update",
    TaskProgress = "task.progress",
    TaskCompleted = "task.completed",
    TaskFailed = "task.failed",
    VersionAvailable = "version.available",
}
