use serde::Serialize;

/// What happened to one field of the old workload, or one value helmigrate chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Carried into a chart value.
    Mapped,
    /// Set by helmigrate (or left to the chart) although the old workload did not say it.
    Defaulted,
    /// Could not be expressed with this chart: lost unless handled by hand.
    Dropped,
    /// Replaced by the user with --set / --values.
    Overridden,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Mapped => "mapped",
            Status::Defaulted => "defaulted",
            Status::Dropped => "dropped",
            Status::Overridden => "overridden",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// The old workload's field (`env OLLAMA_KEEP_ALIVE`, `pod runtimeClassName`) or `-`.
    pub field: String,
    /// Its value as shown to people: secret values never appear here.
    pub value: String,
    /// The chart values path it went to, empty when dropped.
    pub path: String,
    pub status: Status,
    pub why: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Info,
    Warning,
    /// The plan must not be applied as it is.
    Blocking,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Warning {
    pub level: Level,
    pub message: String,
}
