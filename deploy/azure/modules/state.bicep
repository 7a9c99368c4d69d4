// State storage account: EventProcessor checkpoints and ownership (blob container), per-blob
// offsets (table) and dead-lettered records (blob container).

@description('Region of the account.')
param location string

@description('Account name (3-24 lower-case letters and digits).')
param accountName string

@description('Resource tags.')
param tags object

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: accountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    // State is small; losing it means re-reading blobs (duplicates the dedup view removes),
    // not losing data. Use Standard_ZRS where the region offers it.
    name: 'Standard_LRS'
  }
  properties: {
    // Entra ID only (the Rust blob SDK has no shared-key signing anyway).
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    accessTier: 'Hot'
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource checkpoints 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: 'flowlog-checkpoints'
  properties: {
    publicAccess: 'None'
  }
}

resource deadLetter 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: 'flowlog-deadletter'
  properties: {
    publicAccess: 'None'
  }
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: account
  name: 'default'
}

resource offsets 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: 'flowlogoffsets'
}

output accountName string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output tableEndpoint string = account.properties.primaryEndpoints.table
output checkpointContainer string = checkpoints.name
output deadLetterContainer string = deadLetter.name
output offsetTable string = offsets.name
