//! `inventory import azure`.

use super::Found;
use crate::cli::AzureImportArgs;

#[allow(clippy::unused_async)]
pub(super) async fn discover(_args: &AzureImportArgs) -> anyhow::Result<Found> {
    Err(super::usage("this provider is not implemented yet"))
}
