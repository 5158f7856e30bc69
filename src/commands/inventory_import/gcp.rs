//! `inventory import gcp`.

use super::Found;
use crate::cli::GcpImportArgs;

#[allow(clippy::unused_async)]
pub(super) async fn discover(_args: &GcpImportArgs) -> anyhow::Result<Found> {
    Err(super::usage("this provider is not implemented yet"))
}
