use azure_messaging_eventhubs as _;
use azure_messaging_eventhubs_checkpointstore_blob as _;
use azure_storage_blob as _;
#[test]
fn t() {}
