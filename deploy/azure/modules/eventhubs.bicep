// Event Hubs namespace (Standard) with the input hub (Event Grid -> flowlog, consumer group
// "flowlog") and the output hub (flowlog -> Data Explorer, consumer group "adx").

@description('Region of the namespace.')
param location string

@description('Namespace name (6-50 characters).')
param namespaceName string

@description('Throughput units.')
param capacity int

@description('Input hub name.')
param inputHubName string

@description('Input hub partition count.')
param inputHubPartitions int

@description('Output hub name.')
param outputHubName string

@description('Output hub partition count.')
param outputHubPartitions int

@description('Message retention in days for both hubs.')
param retentionDays int

@description('Resource tags.')
param tags object

resource namespace 'Microsoft.EventHub/namespaces@2024-01-01' = {
  name: namespaceName
  location: location
  tags: tags
  // Standard: consumer groups beyond $Default, 1 MB events, up to 7 days retention.
  sku: {
    name: 'Standard'
    tier: 'Standard'
    capacity: capacity
  }
  properties: {
    // Entra ID only: flowlog, KEDA, Event Grid and Data Explorer all use managed identities.
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    isAutoInflateEnabled: false
  }
}

resource inputHub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' = {
  parent: namespace
  name: inputHubName
  properties: {
    partitionCount: inputHubPartitions
    messageRetentionInDays: retentionDays
  }
}

// flowlog's own consumer group: its EventProcessor checkpoints and KEDA's lag refer to it.
resource flowlogGroup 'Microsoft.EventHub/namespaces/eventhubs/consumergroups@2024-01-01' = {
  parent: inputHub
  name: 'flowlog'
  properties: {
    userMetadata: 'flowlog daemon (EventProcessor, blob checkpoints)'
  }
}

resource outputHub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' = {
  parent: namespace
  name: outputHubName
  properties: {
    partitionCount: outputHubPartitions
    messageRetentionInDays: retentionDays
  }
}

// Data Explorer gets its own consumer group (it must not share one with other readers).
resource adxGroup 'Microsoft.EventHub/namespaces/eventhubs/consumergroups@2024-01-01' = {
  parent: outputHub
  name: 'adx'
  properties: {
    userMetadata: 'Azure Data Explorer data connection'
  }
}

output inputHubName string = inputHub.name
output inputHubId string = inputHub.id
output flowlogConsumerGroup string = flowlogGroup.name
output outputHubName string = outputHub.name
output outputHubId string = outputHub.id
output adxConsumerGroup string = adxGroup.name
