//! Mattermost failure alerts. (Placeholder with the agreed API; being written.)
#[derive(Clone, Debug)]
pub struct SampleReject {
    pub source_key: String,
    pub line: u64,
    pub raw: String,
    pub reason: String,
}
#[derive(Default)]
pub struct AlertConfig {
    pub webhook_url: Option<crate::secret::Secret>,
    pub username: Option<String>,
    pub icon_url: Option<String>,
    pub channel: Option<String>,
}
#[derive(Clone, Debug, Default)]
pub struct AirflowContext {
    pub dag_id: Option<String>,
}
impl AirflowContext {
    pub fn from_env() -> Option<Self> {
        None
    }
}
pub struct Failure {
    pub job: String,
    pub date: String,
    pub table: String,
    pub run_id: String,
    pub exit_code: i32,
    pub kind: String,
    pub error_chain: Vec<String>,
    pub files_read: u64,
    pub files_total: u64,
    pub rows_loaded: u64,
    pub rows_rejected: u64,
    pub sample_rejects: Vec<SampleReject>,
    pub rerun_command: String,
    pub airflow: Option<AirflowContext>,
}
pub enum AlertOutcome {
    Sent,
    NotConfigured,
}
#[derive(Debug, thiserror::Error)]
#[error("alert failed")]
pub struct AlertError;
pub async fn send_failure_alert(_: &AlertConfig, _: &Failure) -> Result<AlertOutcome, AlertError> {
    Ok(AlertOutcome::NotConfigured)
}
