// flowlog's rows into a Log Analytics workspace (Microsoft Sentinel) through the Logs Ingestion
// API: a data collection endpoint, the custom table FlowLogs_CL, a data collection rule whose
// stream is flowlog's row (Custom-FlowlogRows) and whose transformation writes either the ASIM
// NetworkSession table or FlowLogs_CL, and the one role flowlog needs to post to the rule.
//
// The stream's columns are the row fields of src/domain/row/schema.rs, and FlowLogs_CL holds
// them all (tests/sentinel_deploy.rs holds both lists to the schema). The transformations are the
// files in deploy/sentinel/, which CI analyzes with Kusto.Language (tests/sentinel_asim.rs).

@description('Region of the workspace, the endpoint and the rule (a rule must be in its workspace\'s region).')
param location string

@description('Log Analytics workspace receiving the rows (created when createWorkspace, else an EXISTING workspace in this resource group).')
param workspaceName string

@description('Create the workspace (and enable Microsoft Sentinel on it with enableSentinel); false to use an existing one.')
param createWorkspace bool

@description('Enable Microsoft Sentinel on the workspace (the ASIM tables are Sentinel\'s). Leave false if it is already enabled.')
param enableSentinel bool

@description('asim: rows become ASimNetworkSessionLogs records (ASIM NetworkSession); custom: every row field in FlowLogs_CL.')
@allowed(['asim', 'custom'])
param destination string

@description('Data collection endpoint name.')
param endpointName string

@description('Data collection rule name.')
param ruleName string

@description('Principal ID of flowlog\'s managed identity (Monitoring Metrics Publisher on the rule).')
param principalId string

@description('Object ID of a person or group running flowlog with their own login, given the same role; empty for none.')
param operatorPrincipalId string

@description('User or Group: the kind of operatorPrincipalId.')
@allowed(['User', 'Group'])
param operatorPrincipalType string

@description('Resource tags.')
param tags object

// The stream flowlog posts to, named in flowlog.toml [log_analytics] stream.
var streamName = 'Custom-FlowlogRows'
var customTable = 'FlowLogs_CL'
// Built-in role "Monitoring Metrics Publisher": the role the Logs Ingestion API requires on the
// rule (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/monitor).
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

// flowlog's row, field for field (JSON names and Kusto types of `flowlog schema`).
var rowColumns = [
  { name: 'id', type: 'string' }
  { name: 'flow_time', type: 'datetime' }
  { name: 'record_time', type: 'datetime' }
  { name: 'format', type: 'string' }
  { name: 'version', type: 'int' }
  { name: 'resource_id', type: 'string' }
  { name: 'target_resource_id', type: 'string' }
  { name: 'subscription_id', type: 'string' }
  { name: 'resource_group', type: 'string' }
  { name: 'rule', type: 'string' }
  { name: 'acl_id', type: 'string' }
  { name: 'mac', type: 'string' }
  { name: 'src_ip', type: 'string' }
  { name: 'dst_ip', type: 'string' }
  { name: 'src_port', type: 'int' }
  { name: 'dst_port', type: 'int' }
  { name: 'protocol', type: 'string' }
  { name: 'protocol_number', type: 'int' }
  { name: 'direction', type: 'string' }
  { name: 'decision', type: 'string' }
  { name: 'flow_state', type: 'string' }
  { name: 'encryption', type: 'string' }
  { name: 'packets_src_to_dst', type: 'long' }
  { name: 'bytes_src_to_dst', type: 'long' }
  { name: 'packets_dst_to_src', type: 'long' }
  { name: 'bytes_dst_to_src', type: 'long' }
  { name: 'blob', type: 'string' }
  { name: 'record_offset', type: 'long' }
  { name: 'src_class', type: 'string' }
  { name: 'dst_class', type: 'string' }
  { name: 'flow_type', type: 'string' }
  { name: 'src_asn', type: 'long' }
  { name: 'src_as_org', type: 'string' }
  { name: 'src_country', type: 'string' }
  { name: 'src_city', type: 'string' }
  { name: 'src_lat', type: 'real' }
  { name: 'src_lon', type: 'real' }
  { name: 'src_azure_service', type: 'string' }
  { name: 'src_azure_region', type: 'string' }
  { name: 'dst_asn', type: 'long' }
  { name: 'dst_as_org', type: 'string' }
  { name: 'dst_country', type: 'string' }
  { name: 'dst_city', type: 'string' }
  { name: 'dst_lat', type: 'real' }
  { name: 'dst_lon', type: 'real' }
  { name: 'dst_azure_service', type: 'string' }
  { name: 'dst_azure_region', type: 'string' }
  { name: 'community_id', type: 'string' }
  { name: 'service', type: 'string' }
]

// FlowLogs_CL: TimeGenerated (the flow time) and every row field; the row's `id` is `row_id`
// because `id` is a reserved column name in Log Analytics tables.
var tableColumns = [
  { name: 'TimeGenerated', type: 'dateTime' }
  { name: 'row_id', type: 'string' }
  { name: 'flow_time', type: 'dateTime' }
  { name: 'record_time', type: 'dateTime' }
  { name: 'format', type: 'string' }
  { name: 'version', type: 'int' }
  { name: 'resource_id', type: 'string' }
  { name: 'target_resource_id', type: 'string' }
  { name: 'subscription_id', type: 'string' }
  { name: 'resource_group', type: 'string' }
  { name: 'rule', type: 'string' }
  { name: 'acl_id', type: 'string' }
  { name: 'mac', type: 'string' }
  { name: 'src_ip', type: 'string' }
  { name: 'dst_ip', type: 'string' }
  { name: 'src_port', type: 'int' }
  { name: 'dst_port', type: 'int' }
  { name: 'protocol', type: 'string' }
  { name: 'protocol_number', type: 'int' }
  { name: 'direction', type: 'string' }
  { name: 'decision', type: 'string' }
  { name: 'flow_state', type: 'string' }
  { name: 'encryption', type: 'string' }
  { name: 'packets_src_to_dst', type: 'long' }
  { name: 'bytes_src_to_dst', type: 'long' }
  { name: 'packets_dst_to_src', type: 'long' }
  { name: 'bytes_dst_to_src', type: 'long' }
  { name: 'blob', type: 'string' }
  { name: 'record_offset', type: 'long' }
  { name: 'src_class', type: 'string' }
  { name: 'dst_class', type: 'string' }
  { name: 'flow_type', type: 'string' }
  { name: 'src_asn', type: 'long' }
  { name: 'src_as_org', type: 'string' }
  { name: 'src_country', type: 'string' }
  { name: 'src_city', type: 'string' }
  { name: 'src_lat', type: 'real' }
  { name: 'src_lon', type: 'real' }
  { name: 'src_azure_service', type: 'string' }
  { name: 'src_azure_region', type: 'string' }
  { name: 'dst_asn', type: 'long' }
  { name: 'dst_as_org', type: 'string' }
  { name: 'dst_country', type: 'string' }
  { name: 'dst_city', type: 'string' }
  { name: 'dst_lat', type: 'real' }
  { name: 'dst_lon', type: 'real' }
  { name: 'dst_azure_service', type: 'string' }
  { name: 'dst_azure_region', type: 'string' }
  { name: 'community_id', type: 'string' }
  { name: 'service', type: 'string' }
]

resource newWorkspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = if (createWorkspace) {
  name: workspaceName
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 90
  }
}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: workspaceName
}

resource sentinel 'Microsoft.SecurityInsights/onboardingStates@2024-03-01' = if (enableSentinel) {
  scope: workspace
  name: 'default'
  properties: {}
  dependsOn: [newWorkspace]
}

resource table 'Microsoft.OperationalInsights/workspaces/tables@2023-09-01' = {
  parent: workspace
  name: customTable
  properties: {
    plan: 'Analytics'
    schema: {
      name: customTable
      columns: tableColumns
    }
  }
  dependsOn: [newWorkspace]
}

resource dce 'Microsoft.Insights/dataCollectionEndpoints@2023-03-11' = {
  name: endpointName
  location: location
  tags: tags
  properties: {
    networkAcls: {
      publicNetworkAccess: 'Enabled'
    }
  }
}

resource dcr 'Microsoft.Insights/dataCollectionRules@2023-03-11' = {
  name: ruleName
  location: location
  tags: tags
  properties: {
    dataCollectionEndpointId: dce.id
    streamDeclarations: {
      'Custom-FlowlogRows': {
        columns: rowColumns
      }
    }
    destinations: {
      logAnalytics: [
        {
          name: 'workspace'
          workspaceResourceId: workspace.id
        }
      ]
    }
    dataFlows: [
      {
        streams: [streamName]
        destinations: ['workspace']
        transformKql: destination == 'asim' ? loadTextContent('../../sentinel/asim-network-session.kql') : loadTextContent('../../sentinel/flowlogs-cl.kql')
        outputStream: destination == 'asim' ? 'Microsoft-ASimNetworkSessionLogs' : 'Custom-${customTable}'
      }
    ]
  }
  // The output table must exist when the rule is validated.
  dependsOn: [table, sentinel]
}

resource publish 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(dcr.id, principalId, monitoringMetricsPublisher)
  scope: dcr
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource operatorPublish 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(operatorPrincipalId)) {
  name: guid(dcr.id, operatorPrincipalId, monitoringMetricsPublisher)
  scope: dcr
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
  }
}

@description('flowlog.toml [log_analytics] endpoint: the endpoint\'s logs ingestion URL.')
output endpoint string = dce.properties.logsIngestion.endpoint
@description('flowlog.toml [log_analytics] dcr_immutable_id.')
output dcrImmutableId string = dcr.properties.immutableId
@description('flowlog.toml [log_analytics] stream.')
output stream string = streamName
@description('The table the rows land in.')
output table string = destination == 'asim' ? 'ASimNetworkSessionLogs' : customTable
@description('Resource ID of the workspace.')
output workspaceId string = workspace.id
