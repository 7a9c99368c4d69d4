// Deployed into the flow-log storage account's resource group: the Event Grid system topic for
// the EXISTING account, and read access to its blobs for flowlog.

@description('Existing storage account NSG/VNet flow logging writes to.')
param storageAccountName string

@description('System topic name (one per storage account).')
param systemTopicName string

@description('Principal ID of the flowlog identity (Storage Blob Data Reader on the account).')
param readerPrincipalId string

@description('Object ID of a person or group running flowlog with their own Entra ID login (Storage Blob Data Reader too); empty for none.')
param operatorPrincipalId string = ''

@description('User or Group: the kind of operatorPrincipalId.')
@allowed(['User', 'Group'])
param operatorPrincipalType string = 'User'

@description('Resource tags.')
param tags object

var storageBlobDataReader = '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource topic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: systemTopicName
  // A system topic lives in its source's region.
  location: account.location
  tags: tags
  identity: {
    // Used to deliver to the input hub (Event Hubs Data Sender, assigned in main.bicep).
    type: 'SystemAssigned'
  }
  properties: {
    source: account.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

// Account scope: flow logging creates one container per log type, and flowlog's own
// [sources] allow-list narrows which containers it reads.
resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(account.id, readerPrincipalId, storageBlobDataReader)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataReader)
    principalId: readerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource operatorReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(account.id, operatorPrincipalId, storageBlobDataReader)
  scope: account
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataReader)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

output topicName string = topic.name
output topicPrincipalId string = topic.identity.principalId
output blobEndpoint string = account.properties.primaryEndpoints.blob
