// Least-privilege data-plane roles for the flowlog identity, each on the narrowest scope:
// the two hubs (not the namespace), the two containers and the table (not the account).

@description('Object (principal) ID of the flowlog managed identity, or of a person or group running flowlog with their own Entra ID login.')
param principalId string

@description('ServicePrincipal for a managed identity; User or Group for people running flowlog themselves.')
@allowed(['ServicePrincipal', 'User', 'Group'])
param principalType string = 'ServicePrincipal'

@description('Event Hubs namespace name.')
param eventHubsNamespaceName string

@description('Input hub: flowlog receives (Event Hubs Data Receiver).')
param inputHubName string

@description('Output hub: flowlog sends (Event Hubs Data Sender).')
param outputHubName string

@description('State storage account name.')
param stateStorageAccountName string

@description('Checkpoint container (Storage Blob Data Contributor: checkpoints and ownership blobs).')
param checkpointContainer string

@description('Dead-letter container (Storage Blob Data Contributor).')
param deadLetterContainer string

@description('Offset table (Storage Table Data Contributor).')
param offsetTable string

@description('Built-in role definition IDs, from main.bicep.')
param roles object

resource inputHub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' existing = {
  name: '${eventHubsNamespaceName}/${inputHubName}'
}

resource outputHub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' existing = {
  name: '${eventHubsNamespaceName}/${outputHubName}'
}

resource checkpoints 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  name: '${stateStorageAccountName}/default/${checkpointContainer}'
}

resource deadLetter 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' existing = {
  name: '${stateStorageAccountName}/default/${deadLetterContainer}'
}

resource offsets 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' existing = {
  name: '${stateStorageAccountName}/default/${offsetTable}'
}

// KEDA (same identity) also only needs these two: partition info from the input hub and the
// checkpoint blobs.
resource receiveInput 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(inputHub.id, principalId, roles.eventHubsDataReceiver)
  scope: inputHub
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventHubsDataReceiver)
    principalId: principalId
    principalType: principalType
  }
}

resource sendOutput 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(outputHub.id, principalId, roles.eventHubsDataSender)
  scope: outputHub
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventHubsDataSender)
    principalId: principalId
    principalType: principalType
  }
}

resource writeCheckpoints 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(checkpoints.id, principalId, roles.storageBlobDataContributor)
  scope: checkpoints
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: principalId
    principalType: principalType
  }
}

resource writeDeadLetters 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(deadLetter.id, principalId, roles.storageBlobDataContributor)
  scope: deadLetter
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataContributor)
    principalId: principalId
    principalType: principalType
  }
}

resource writeOffsets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(offsets.id, principalId, roles.storageTableDataContributor)
  scope: offsets
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: principalId
    principalType: principalType
  }
}
