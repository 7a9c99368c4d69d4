// flowlog Azure resources. Deploy into the resource group that will hold the pipeline:
//   az deployment group create -g <rg> -f deploy/azure/main.bicep -p @main.parameters.json
// Creates: Event Hubs namespace with the input and output hubs, the state storage account,
// the user-assigned identity (with federated credentials for AKS workload identity when an OIDC
// issuer is given), least-privilege role assignments (for the identity and, optionally, for a
// person running flowlog with their own login), the Event Grid system topic + subscription on
// the EXISTING flow-log storage account, the Data Explorer database objects + Event Hub data
// connection on an EXISTING cluster (with outputKind eventhubs, the default) or, with outputKind
// log_analytics, a Log Analytics workspace (Microsoft Sentinel) fed through the Logs Ingestion API
// (docs/SENTINEL.md) and, optionally, flowlog itself on Azure Container Apps.
// Authentication is Entra ID everywhere (local/SAS auth disabled). docs/AZURE.md walks through
// it without Kubernetes, deploy/README.md with AKS.
targetScope = 'resourceGroup'

@description('Region of the new resources (the Event Grid system topic follows the flow-log account instead).')
param location string = resourceGroup().location

@description('Event Hubs namespace name, globally unique, 6-50 letters, digits and hyphens, starting with a letter. flowlog.toml uses <name>.servicebus.windows.net.')
@minLength(6)
@maxLength(50)
param eventHubsNamespaceName string

@description('Event Hubs Standard throughput units (1 TU = 1 MB/s or 1000 events/s ingress per namespace).')
@minValue(1)
@maxValue(40)
param eventHubsCapacity int = 1

@description('Event hub receiving Event Grid BlobCreated events (flowlog.toml [input] hub).')
param inputHubName string = 'flowlog-input'

@description('Partitions of the input hub: the upper bound of useful flowlog replicas (KEDA maxReplicaCount). Cannot be changed later on Standard.')
@minValue(1)
@maxValue(32)
param inputHubPartitions int = 4

@description('Event hub flowlog publishes rows to and Data Explorer reads (flowlog.toml [output] hub).')
param outputHubName string = 'flowlog-rows'

@description('Partitions of the output hub (Data Explorer reads partitions in parallel).')
@minValue(1)
@maxValue(32)
param outputHubPartitions int = 4

@description('Days events stay in the hubs (Standard: 1-7). Longer input retention lets flowlog recover from a longer outage.')
@minValue(1)
@maxValue(7)
param hubRetentionDays int = 7

@description('State storage account name (checkpoints, offsets, dead letters): globally unique, 3-24 lower-case letters and digits.')
@minLength(3)
@maxLength(24)
param stateStorageAccountName string

@description('Name of the EXISTING storage account NSG/VNet flow logging writes to.')
param flowLogStorageAccountName string

@description('Resource group of the existing flow-log storage account (same subscription).')
param flowLogStorageResourceGroup string = resourceGroup().name

@description('Name of the Event Grid system topic created for the flow-log storage account. If the account already has a system topic, give its name here: an account can have only one.')
param systemTopicName string = '${flowLogStorageAccountName}-events'

@description('Name of the user-assigned managed identity flowlog (and KEDA) run as.')
param identityName string = 'flowlog'

@description('OIDC issuer URL of the AKS cluster: az aks show -g <rg> -n <aks> --query oidcIssuerProfile.issuerUrl -o tsv. Empty when flowlog does not run on AKS (no federated credentials).')
param aksOidcIssuerUrl string = ''

@description('Kubernetes namespace flowlog is deployed to (kubectl apply -k ... -n <this>).')
param kubernetesNamespace string = 'flowlog'

@description('Kubernetes service account of the flowlog pods (deploy/kubernetes/serviceaccount.yaml).')
param kubernetesServiceAccount string = 'flowlog'

@description('Also federate the KEDA operator service account, so the azure-workload TriggerAuthentication can read lag with the same identity.')
param federateKedaOperator bool = true

@description('Namespace of the KEDA operator: kube-system for the AKS KEDA add-on, keda for the Helm chart.')
param kedaNamespace string = 'kube-system'

@description('Service account of the KEDA operator.')
param kedaServiceAccount string = 'keda-operator'

@description('Where rows go: eventhubs (the output hub, read by Data Explorer) or log_analytics (a Log Analytics workspace / Microsoft Sentinel through the Logs Ingestion API). flowlog.toml [output] kind.')
@allowed(['eventhubs', 'log_analytics'])
param outputKind string = 'eventhubs'

@description('Name of the EXISTING Data Explorer cluster (it must have a system-assigned managed identity). Required with outputKind eventhubs, unused otherwise.')
param adxClusterName string = ''

@description('Resource group of the existing Data Explorer cluster (same subscription).')
param adxResourceGroup string = resourceGroup().name

@description('Data Explorer database for flow logs; created, or updated if it exists.')
param adxDatabaseName string = 'flowlog'

@description('Database soft-delete period (ISO 8601); table and view policies in deploy/adx/04-policies.kql override it.')
param adxDatabaseSoftDeletePeriod string = 'P90D'

@description('Database hot-cache period (ISO 8601); 04-policies.kql overrides it per table/view.')
param adxDatabaseHotCachePeriod string = 'P14D'

@description('Target table; must equal flowlog.toml [output] adx_table and deploy/adx/01-table.kql.')
param adxTableName string = 'FlowLogs'

@description('JSON ingestion mapping; must equal flowlog.toml [output] adx_mapping and deploy/adx/02-mapping.kql.')
param adxMappingName string = 'FlowLogsMapping'

@description('With log_analytics: the Log Analytics workspace in this resource group receiving the rows.')
param logAnalyticsWorkspaceName string = 'flowlog-sentinel'

@description('With log_analytics: create that workspace; false to use an existing one.')
param createLogAnalyticsWorkspace bool = true

@description('With log_analytics: enable Microsoft Sentinel on the workspace (false when it is already enabled).')
param enableSentinel bool = true

@description('With log_analytics: asim writes ASimNetworkSessionLogs (ASIM NetworkSession, the default); custom writes every row field to FlowLogs_CL.')
@allowed(['asim', 'custom'])
param logAnalyticsDestination string = 'asim'

@description('With log_analytics: data collection endpoint name.')
param dataCollectionEndpointName string = 'flowlog-dce'

@description('With log_analytics: data collection rule name.')
param dataCollectionRuleName string = 'flowlog-rows'

@description('Object ID of a person (or group) who runs flowlog with their own Entra ID login, e.g. on a laptop: az ad signed-in-user show --query id -o tsv. They get the same data roles as the identity. Empty for none.')
param operatorPrincipalId string = ''

@description('User or Group: the kind of operatorPrincipalId.')
@allowed(['User', 'Group'])
param operatorPrincipalType string = 'User'

@description('Also run flowlog on Azure Container Apps (no Kubernetes needed), scaled by KEDA on the input hub lag.')
param deployContainerApp bool = false

@description('Image for the container app, e.g. contosoacr.azurecr.io/flowlog:0.1.0 (built from deploy/Dockerfile). Required with deployContainerApp.')
param containerImage string = ''

@description('EXISTING Azure Container Registry in this resource group holding containerImage; the identity gets AcrPull on it. Empty for an anonymously pullable image.')
param containerRegistryName string = ''

@description('Container app name.')
param containerAppName string = 'flowlog'

@description('Container Apps environment name (created, with a Log Analytics workspace <name>-logs).')
param containerAppsEnvironmentName string = 'flowlog-env'

@description('Resource tags applied to every new resource.')
param tags object = {
  workload: 'flowlog'
}

// Built-in role definition IDs (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles).
var roles = {
  eventHubsDataReceiver: 'a638d3c7-ab3a-418d-83e6-5f17a39d4fde'
  eventHubsDataSender: '2b629674-e913-4c01-ae53-ef4638d8f975'
  storageBlobDataContributor: 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
}

module eventHubs 'modules/eventhubs.bicep' = {
  name: 'flowlog-eventhubs'
  params: {
    location: location
    namespaceName: eventHubsNamespaceName
    capacity: eventHubsCapacity
    inputHubName: inputHubName
    inputHubPartitions: inputHubPartitions
    outputHubName: outputHubName
    outputHubPartitions: outputHubPartitions
    retentionDays: hubRetentionDays
    tags: tags
  }
}

module state 'modules/state.bicep' = {
  name: 'flowlog-state'
  params: {
    location: location
    accountName: stateStorageAccountName
    tags: tags
  }
}

module identity 'modules/identity.bicep' = {
  name: 'flowlog-identity'
  params: {
    location: location
    identityName: identityName
    oidcIssuerUrl: aksOidcIssuerUrl
    kubernetesNamespace: kubernetesNamespace
    kubernetesServiceAccount: kubernetesServiceAccount
    federateKedaOperator: federateKedaOperator
    kedaNamespace: kedaNamespace
    kedaServiceAccount: kedaServiceAccount
    tags: tags
  }
}

// flowlog (and KEDA) read the input hub, write the output hub, and use the state account's
// checkpoint container, dead-letter container and offset table: nothing else.
module flowlogRoles 'modules/roles.bicep' = {
  name: 'flowlog-roles'
  params: {
    principalId: identity.outputs.principalId
    eventHubsNamespaceName: eventHubsNamespaceName
    inputHubName: eventHubs.outputs.inputHubName
    outputHubName: eventHubs.outputs.outputHubName
    stateStorageAccountName: state.outputs.accountName
    checkpointContainer: state.outputs.checkpointContainer
    deadLetterContainer: state.outputs.deadLetterContainer
    offsetTable: state.outputs.offsetTable
    roles: roles
  }
}

// The same roles for a person running flowlog with their own login (Azure CLI credential).
module operatorRoles 'modules/roles.bicep' = if (!empty(operatorPrincipalId)) {
  name: 'flowlog-operator-roles'
  params: {
    principalId: operatorPrincipalId
    principalType: operatorPrincipalType
    eventHubsNamespaceName: eventHubsNamespaceName
    inputHubName: eventHubs.outputs.inputHubName
    outputHubName: eventHubs.outputs.outputHubName
    stateStorageAccountName: state.outputs.accountName
    checkpointContainer: state.outputs.checkpointContainer
    deadLetterContainer: state.outputs.deadLetterContainer
    offsetTable: state.outputs.offsetTable
    roles: roles
  }
}

// System topic on the flow-log account (in its resource group) and read access for flowlog.
module source 'modules/flowlog-source.bicep' = {
  name: 'flowlog-source'
  scope: resourceGroup(flowLogStorageResourceGroup)
  params: {
    storageAccountName: flowLogStorageAccountName
    systemTopicName: systemTopicName
    readerPrincipalId: identity.outputs.principalId
    operatorPrincipalId: operatorPrincipalId
    operatorPrincipalType: operatorPrincipalType
    tags: tags
  }
}

// Event Grid delivers to the input hub with the system topic's managed identity.
resource inputHub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' existing = {
  name: '${eventHubsNamespaceName}/${inputHubName}'
}

resource topicSendsToInputHub 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(inputHub.id, systemTopicName, roles.eventHubsDataSender)
  scope: inputHub
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventHubsDataSender)
    principalId: source.outputs.topicPrincipalId
    principalType: 'ServicePrincipal'
  }
  dependsOn: [eventHubs]
}

module subscription 'modules/eventgrid-subscription.bicep' = {
  name: 'flowlog-eventgrid-subscription'
  scope: resourceGroup(flowLogStorageResourceGroup)
  params: {
    systemTopicName: source.outputs.topicName
    inputHubId: eventHubs.outputs.inputHubId
  }
  // The role assignment must exist before Event Grid validates delivery to the hub.
  dependsOn: [topicSendsToInputHub]
}

var toDataExplorer = outputKind == 'eventhubs'
var toLogAnalytics = outputKind == 'log_analytics'

// Data Explorer's own identity reads the output hub for the data connection.
resource adxCluster 'Microsoft.Kusto/clusters@2023-08-15' existing = if (toDataExplorer) {
  name: adxClusterName
  scope: resourceGroup(adxResourceGroup)
}

resource outputHub 'Microsoft.EventHub/namespaces/eventhubs@2024-01-01' existing = {
  name: '${eventHubsNamespaceName}/${outputHubName}'
}

resource adxReceivesOutputHub 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (toDataExplorer) {
  name: guid(outputHub.id, adxCluster.id, roles.eventHubsDataReceiver)
  scope: outputHub
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventHubsDataReceiver)
    principalId: adxCluster.identity.principalId
    principalType: 'ServicePrincipal'
  }
  dependsOn: [eventHubs]
}

module adx 'modules/adx.bicep' = if (toDataExplorer) {
  name: 'flowlog-adx'
  scope: resourceGroup(adxResourceGroup)
  params: {
    clusterName: adxClusterName
    databaseName: adxDatabaseName
    softDeletePeriod: adxDatabaseSoftDeletePeriod
    hotCachePeriod: adxDatabaseHotCachePeriod
    tableName: adxTableName
    mappingName: adxMappingName
    outputHubId: eventHubs.outputs.outputHubId
    adxConsumerGroup: eventHubs.outputs.adxConsumerGroup
  }
  // The connection is validated with the cluster identity's access to the hub.
  dependsOn: [adxReceivesOutputHub]
}

// Rows into Log Analytics / Microsoft Sentinel: endpoint, table, rule and flowlog's right to post.
module sentinel 'modules/sentinel.bicep' = if (toLogAnalytics) {
  name: 'flowlog-sentinel'
  params: {
    location: location
    workspaceName: logAnalyticsWorkspaceName
    createWorkspace: createLogAnalyticsWorkspace
    enableSentinel: enableSentinel
    destination: logAnalyticsDestination
    endpointName: dataCollectionEndpointName
    ruleName: dataCollectionRuleName
    principalId: identity.outputs.principalId
    operatorPrincipalId: operatorPrincipalId
    operatorPrincipalType: operatorPrincipalType
    tags: tags
  }
}

// flowlog without Kubernetes: the identity above, the same hubs, group and containers.
module containerApp 'modules/containerapp.bicep' = if (deployContainerApp) {
  name: 'flowlog-containerapp'
  params: {
    location: location
    environmentName: containerAppsEnvironmentName
    appName: containerAppName
    image: containerImage
    registryName: containerRegistryName
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    identityPrincipalId: identity.outputs.principalId
    eventHubsNamespaceName: eventHubsNamespaceName
    inputHubName: eventHubs.outputs.inputHubName
    consumerGroup: eventHubs.outputs.flowlogConsumerGroup
    outputHubName: eventHubs.outputs.outputHubName
    stateStorageAccountName: state.outputs.accountName
    checkpointContainer: state.outputs.checkpointContainer
    deadLetterContainer: state.outputs.deadLetterContainer
    offsetTable: state.outputs.offsetTable
    flowLogStorageAccountName: flowLogStorageAccountName
    adxTableName: adxTableName
    adxMappingName: adxMappingName
    outputKind: outputKind
    logAnalyticsEndpoint: toLogAnalytics ? sentinel.outputs.endpoint : ''
    logAnalyticsDcrImmutableId: toLogAnalytics ? sentinel.outputs.dcrImmutableId : ''
    logAnalyticsStream: toLogAnalytics ? sentinel.outputs.stream : ''
    maxReplicas: inputHubPartitions
    tags: tags
  }
  // The app starts reading at once: its roles must exist first.
  dependsOn: [flowlogRoles, source, sentinel]
}

@description('Client ID for deploy/kubernetes/settings.env AZURE_CLIENT_ID.')
output identityClientId string = identity.outputs.clientId
@description('For settings.env EVENTHUBS_NAMESPACE.')
output eventHubsNamespaceName string = eventHubsNamespaceName
@description('For flowlog.toml [input] and [output] namespace.')
output eventHubsNamespaceFqdn string = '${eventHubsNamespaceName}.servicebus.windows.net'
@description('For settings.env STATE_STORAGE_ACCOUNT.')
output stateStorageAccountName string = state.outputs.accountName
@description('For flowlog.toml [checkpoints] and [dead_letter] account_url.')
output stateBlobEndpoint string = state.outputs.blobEndpoint
@description('For flowlog.toml [offsets] account_url.')
output stateTableEndpoint string = state.outputs.tableEndpoint
@description('For flowlog.toml [sources] allowed (append the container names).')
output flowLogBlobEndpoint string = source.outputs.blobEndpoint
@description('Container app running flowlog (empty without deployContainerApp).')
output containerAppName string = deployContainerApp ? containerApp.outputs.appName : ''
@description('For flowlog.toml [log_analytics] endpoint (FLOWLOG_LOG_ANALYTICS_ENDPOINT); empty with eventhubs.')
output logsIngestionEndpoint string = toLogAnalytics ? sentinel.outputs.endpoint : ''
@description('For flowlog.toml [log_analytics] dcr_immutable_id (FLOWLOG_LOG_ANALYTICS_DCR_IMMUTABLE_ID); empty with eventhubs.')
output dcrImmutableId string = toLogAnalytics ? sentinel.outputs.dcrImmutableId : ''
@description('For flowlog.toml [log_analytics] stream (FLOWLOG_LOG_ANALYTICS_STREAM); empty with eventhubs.')
output logsIngestionStream string = toLogAnalytics ? sentinel.outputs.stream : ''
