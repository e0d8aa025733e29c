//! The catalog of publishable event types (contract section 3). One declaration per type, with
//! fields under their JSON names; the `catalog!` table at the bottom ties each to its wire name.
//!
//! The declarations are the table the validator walks (`shape.rs`) and, with the `schema`
//! feature, the source of the JSON Schema; they carry no values (the published text is what is
//! stored and sent, as published). Adding a type: see docs/adding-an-event-type.md.

use crate::formats::{AnyString, BoundedMap, BoundedVec, Id, Integer, NonNegative, Numbers, Text, Time, Unit};
use crate::shape::{shaped_enum, shaped_struct, Rule, Shape, Shaped};

shaped_struct! {
    pub struct SchedulerTick {
        tickAt: Time,
        nextTickAt: Time,
        cadenceSeconds: Integer<1>,
    }
}

shaped_enum! {
    pub enum Stage {
        queued,
        fetching,
        diffing,
        classifying,
        delivering,
        completed,
        failed,
    }
}

shaped_struct! {
    pub struct RunStage {
        runId: Id,
        stage: Stage,
        progress: Unit,
        #[serde(default)]
        vendorId: Option<Id>,
        #[serde(default)]
        message: Option<Text<0, 1000>>,
    }
}

shaped_enum! {
    pub enum Severity {
        low,
        medium,
        high,
        critical,
    }
}

shaped_struct! {
    pub struct ChangeDetected {
        changeId: Id,
        vendorId: Id,
        title: Text<1, 500>,
        severity: Severity,
        detectedAt: Time,
        #[serde(default)]
        url: Option<Text<0, 2048>>,
    }
}

shaped_enum! {
    pub enum Channel {
        slack,
        email,
        webhook,
    }
}

shaped_enum! {
    pub enum DeliveryStatus {
        delivered,
        failed,
    }
}

shaped_struct! {
    pub struct ActionDelivered {
        actionId: Id,
        changeId: Id,
        channel: Channel,
        status: DeliveryStatus,
        deliveredAt: Time,
        #[serde(default)]
        error: Option<Text<0, 1000>>,
    }
}

shaped_enum! {
    pub enum ChangeState {
        new,
        triaged,
        acknowledged,
        resolved,
        dismissed,
    }
}

shaped_struct! {
    pub struct ChangeStateChanged {
        changeId: Id,
        from: ChangeState,
        /// Must differ from `from`.
        to: ChangeState,
        changedAt: Time,
        #[serde(default)]
        actor: Option<Id>,
    }
    rule: Rule::Differs { field: "to", from: "from" };
}

shaped_enum! {
    pub enum Plan {
        free,
        team,
        enterprise,
    }
}

shaped_struct! {
    pub struct OrgEntitlementsChanged {
        plan: Plan,
        features: BoundedVec<Text<1, 64>, 100>,
        limits: BoundedMap<Integer<0>, 100>,
        effectiveAt: Time,
    }
}

shaped_enum! {
    pub enum ReconciliationStatus {
        verified,
        stale,
        discrepancy,
    }
}

shaped_struct! {
    pub struct DiscrepancyDetails {
        expected: Numbers,
        actual: Numbers,
        missingJobIds: BoundedVec<AnyString, { usize::MAX }>,
    }
}

shaped_struct! {
    pub struct ReconciliationUpdate {
        eventId: AnyString,
        service: AnyString,
        status: ReconciliationStatus,
        counts: Numbers,
        checksum: AnyString,
        latencyMs: NonNegative,
        #[serde(default)]
        discrepancyDetails: Option<DiscrepancyDetails>,
    }
}

shaped_struct! {
    pub struct TaskProgress {
        taskId: Id,
        progress: Unit,
        #[serde(default)]
        message: Option<Text<0, 1000>>,
    }
}

shaped_struct! {
    pub struct TaskCompleted {
        taskId: Id,
        /// Any JSON value; an explicit `null` is kept.
        #[serde(default)]
        result: Option<serde_json::Value>,
    }
}

shaped_struct! {
    pub struct TaskFailed {
        taskId: Id,
        error: Text<1, 1000>,
    }
}

shaped_struct! {
    pub struct VersionAvailable {
        version: Text<1, 64>,
        #[serde(default)]
        changelog: Option<Text<0, 10000>>,
    }
}

/// Frames only the server sends (contract 3, "Server-generated frames"); publishing one is refused.
/// The worker names the frames it writes by these, so the names exist once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerFrame {
    Heartbeat,
    Reset,
    Replaced,
    Overflow,
    Expired,
}

impl ServerFrame {
    pub const fn name(self) -> &'static str {
        match self {
            ServerFrame::Heartbeat => "heartbeat",
            ServerFrame::Reset => "stream.reset",
            ServerFrame::Replaced => "stream.replaced",
            ServerFrame::Overflow => "stream.overflow",
            ServerFrame::Expired => "stream.expired",
        }
    }
}

/// The names of every `ServerFrame`.
pub const SERVER_FRAME_TYPES: [&str; 5] = [
    ServerFrame::Heartbeat.name(),
    ServerFrame::Reset.name(),
    ServerFrame::Replaced.name(),
    ServerFrame::Overflow.name(),
    ServerFrame::Expired.name(),
];

macro_rules! catalog {
    ($($variant:ident = $name:literal,)*) => {
        /// Every publishable type, in catalog order.
        pub const EVENT_TYPES: &[&str] = &[$($name,)*];

        $(impl $variant {
            /// This type's name in the catalog (an event's `type`).
            pub const NAME: &'static str = $name;
        })*

        /// The catalog's own spelling of `type_name` and the shape of its `data`, when it is a
        /// catalog type.
        pub(crate) fn shape_of(type_name: &str) -> Option<(&'static str, &'static Shape)> {
            match type_name {
                $($name => Some(($name, &<$variant as Shaped>::SHAPE)),)*
                _ => None,
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
