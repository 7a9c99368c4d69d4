// Deployed into the Data Explorer cluster's resource group: the database, its schema (the
// scripts in deploy/adx, run in order), and the Event Hub data connection on the output hub.

@description('Existing Data Explorer cluster (with a system-assigned identity).')
param clusterName string

@description('Database name.')
param databaseName string

@description('Database soft-delete period (ISO 8601 duration).')
param softDeletePeriod string

@description('Database hot-cache period (ISO 8601 duration).')
param hotCachePeriod string

@description('Default target table of the data connection (events override it with the Table property).')
param tableName string

@description('Default ingestion mapping (events override it with IngestionMappingReference).')
param mappingName string

@description('Resource ID of the output event hub.')
param outputHubId string

@description('Consumer group reserved for Data Explorer on the output hub.')
param adxConsumerGroup string

resource cluster 'Microsoft.Kusto/clusters@2023-08-15' existing = {
  name: clusterName
}

resource database 'Microsoft.Kusto/clusters/databases@2023-08-15' = {
  parent: cluster
  name: databaseName
  location: cluster.location
  kind: 'ReadWrite'
  properties: {
    softDeletePeriod: softDeletePeriod
    hotCachePeriod: hotCachePeriod
  }
}

// The same files the README runs by hand and CI checks with Kusto.Language. Scripts run as
// `.execute database script` (comments and blank lines allowed); all commands are idempotent.
// forceUpdateTag re-runs a script whenever its text changes. Scripts of one database must not
// run concurrently, hence the chain.
var scripts = [
  { name: '01-table', content: loadTextContent('../../adx/01-table.kql') }
  { name: '02-mapping', content: loadTextContent('../../adx/02-mapping.kql') }
  { name: '03-dedup-view', content: loadTextContent('../../adx/03-dedup-view.kql') }
  { name: '04-policies', content: loadTextContent('../../adx/04-policies.kql') }
  { name: '05-asim-network-session', content: loadTextContent('../../adx/05-asim-network-session.kql') }
]

@batchSize(1)
resource schema 'Microsoft.Kusto/clusters/databases/scripts@2023-08-15' = [for s in scripts: {
  parent: database
  name: s.name
  properties: {
    scriptContent: s.content
    forceUpdateTag: uniqueString(s.content)
    continueOnErrors: false
  }
}]

resource connection 'Microsoft.Kusto/clusters/databases/dataConnections@2023-08-15' = {
  parent: database
  name: 'flowlog-rows'
  location: cluster.location
  kind: 'EventHub'
  properties: {
    eventHubResourceId: outputHubId
    consumerGroup: adxConsumerGroup
    // Routing info in the data: flowlog sets Table, Format (multijson),
    // IngestionMappingReference and, with gzip on (its default), Compression=GZip on every
    // event. Data Explorer reads Compression per event from the event's properties, and a
    // per-event property overrides the connection's setting ("You can specify Compression
    // dynamically using ingestion properties, or in the static Data Connection settings":
    // https://learn.microsoft.com/azure/data-explorer/ingest-data-event-hub-overview, Ingestion
    // properties). So gzip events are decompressed by their own property, and the connection
    // stays at 'None' for events without it: plain events (output.gzip = false) carry no
    // Compression property and ingest as they are. 'GZip' here would break plain output.
    tableName: tableName
    mappingRuleName: mappingName
    dataFormat: 'MULTIJSON'
    compression: 'None'
    // Events carry no Database property: everything lands in this database.
    databaseRouting: 'Single'
    // No system properties: they cannot be mapped from compressed events, and rows carry
    // everything they need.
    eventSystemProperties: []
    // Authenticate to Event Hubs as the cluster's system-assigned identity (Data Receiver on
    // the output hub, assigned in main.bicep), not with a SAS key.
    managedIdentityResourceId: cluster.id
  }
  // The table and mapping must exist before the connection is validated.
  dependsOn: [schema]
}

output databaseName string = database.name
output dataConnectionName string = connection.name
