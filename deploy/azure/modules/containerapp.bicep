// flowlog on Azure Container Apps, for those without Kubernetes: a Consumption environment, one
// container app running the image as the user-assigned identity, and KEDA's azure-eventhub scale
// rule on the input hub's consumer group (the same rule as deploy/kubernetes/keda.yaml).
//
// The daemon reads deploy/config/azure.example.toml, mounted from a secret as
// /etc/flowlog/flowlog.toml, and every deployment-specific setting comes from FLOWLOG_*
// variables built from the same parameters as the scale rule, so the daemon checkpoints exactly
// where the scaler reads (tests/scaling_agreement.rs holds them together).

@description('Region of the environment and the app.')
param location string

@description('Container Apps environment name (created, Consumption workload profile).')
param environmentName string

@description('Container app name.')
param appName string

@description('Image to run, e.g. contosoacr.azurecr.io/flowlog:0.1.0 (built from deploy/Dockerfile).')
param image string

@description('EXISTING Azure Container Registry in this resource group the image comes from; the identity gets AcrPull on it. Empty for an image the app can pull anonymously.')
param registryName string

@description('Resource ID of the user-assigned identity the daemon and the scale rule run as.')
param identityId string

@description('Client ID of that identity (the daemon asks the managed identity endpoint for it).')
param identityClientId string

@description('Principal ID of that identity (for the AcrPull role assignment).')
param identityPrincipalId string

@description('Event Hubs namespace NAME (without .servicebus.windows.net).')
param eventHubsNamespaceName string

@description('Input hub (Event Grid BlobCreated events).')
param inputHubName string

@description('flowlog consumer group on the input hub: the daemon checkpoints in it, the scale rule reads its lag.')
param consumerGroup string

@description('Output hub (rows for Data Explorer).')
param outputHubName string

@description('State storage account name.')
param stateStorageAccountName string

@description('Checkpoint container in the state account (written by the daemon, read by the scale rule).')
param checkpointContainer string

@description('Dead-letter container in the state account.')
param deadLetterContainer string

@description('Offset table in the state account.')
param offsetTable string

@description('Storage account flow logging writes to; its two flow-log containers are the allow-list.')
param flowLogStorageAccountName string

@description('Data Explorer table and ingestion mapping named on every output event.')
param adxTableName string

@description('Data Explorer JSON ingestion mapping.')
param adxMappingName string

@description('Where rows go: eventhubs (the output hub, then Data Explorer) or log_analytics (the Logs Ingestion API).')
@allowed(['eventhubs', 'log_analytics'])
param outputKind string

@description('With log_analytics: the data collection endpoint\'s logs ingestion URL.')
param logAnalyticsEndpoint string

@description('With log_analytics: the data collection rule\'s immutable ID.')
param logAnalyticsDcrImmutableId string

@description('With log_analytics: the rule\'s input stream.')
param logAnalyticsStream string

@description('Most replicas: at most the input hub partition count (a replica without a partition idles).')
param maxReplicas int

@description('Resource tags.')
param tags object

// The Logs Ingestion sink's settings, only when it is the output (the Event Hubs settings stay:
// the output hub exists either way and the example config names it).
var logAnalyticsEnv = outputKind == 'log_analytics' ? [
  { name: 'FLOWLOG_OUTPUT_KIND', value: 'log_analytics' }
  { name: 'FLOWLOG_LOG_ANALYTICS_ENDPOINT', value: logAnalyticsEndpoint }
  { name: 'FLOWLOG_LOG_ANALYTICS_DCR_IMMUTABLE_ID', value: logAnalyticsDcrImmutableId }
  { name: 'FLOWLOG_LOG_ANALYTICS_STREAM', value: logAnalyticsStream }
] : []

var storageSuffix = environment().suffixes.storage
var stateBlob = 'https://${stateStorageAccountName}.blob.${storageSuffix}'
var sourceBlob = 'https://${flowLogStorageAccountName}.blob.${storageSuffix}'

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${environmentName}-logs'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
  }
}

resource appEnvironment 'Microsoft.App/managedEnvironments@2025-01-01' = {
  name: environmentName
  location: location
  tags: tags
  properties: {
    // Container stdout (flowlog's JSON log lines) lands in the ContainerAppConsoleLogs_CL table.
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: logs.properties.customerId
        sharedKey: logs.listKeys().primarySharedKey
      }
    }
    workloadProfiles: [
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
    ]
  }
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' existing = if (!empty(registryName)) {
  name: registryName
}

var acrPull = '7f951dda-4ed3-4680-a7ca-43fe172d538d'

resource pull 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(registryName)) {
  name: guid(registry.id, identityPrincipalId, acrPull)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', acrPull)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource app 'Microsoft.App/containerApps@2025-01-01' = {
  name: appName
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    environmentId: appEnvironment.id
    workloadProfileName: 'Consumption'
    configuration: {
      activeRevisionsMode: 'Single'
      // No ingress: flowlog only consumes. /metrics, /healthz and /readyz serve the probes.
      registries: empty(registryName) ? [] : [
        {
          server: '${registryName}${environment().suffixes.acrLoginServer}'
          identity: identityId
        }
      ]
      // A secret is the one way to mount a file without a storage share; it holds no secret
      // (the example config has none and refuses keys), only the repository's config file.
      secrets: [
        {
          name: 'flowlog-toml'
          value: loadTextContent('../../config/azure.example.toml')
        }
      ]
    }
    template: {
      // Above server.shutdown_deadline_secs (25 s), as in deploy/kubernetes/deployment.yaml.
      terminationGracePeriodSeconds: 40
      containers: [
        {
          name: 'flowlog'
          image: image
          args: ['run', '--config', '/etc/flowlog/flowlog.toml']
          env: concat([
            { name: 'RUST_LOG', value: 'info' }
            { name: 'FLOWLOG_AUTH_CREDENTIAL', value: 'managed_identity' }
            { name: 'FLOWLOG_AUTH_CLIENT_ID', value: identityClientId }
            { name: 'FLOWLOG_INPUT_NAMESPACE', value: '${eventHubsNamespaceName}.servicebus.windows.net' }
            { name: 'FLOWLOG_INPUT_HUB', value: inputHubName }
            { name: 'FLOWLOG_INPUT_CONSUMER_GROUP', value: consumerGroup }
            { name: 'FLOWLOG_CHECKPOINTS_ACCOUNT_URL', value: stateBlob }
            { name: 'FLOWLOG_CHECKPOINTS_CONTAINER', value: checkpointContainer }
            { name: 'FLOWLOG_OFFSETS_ACCOUNT_URL', value: 'https://${stateStorageAccountName}.table.${storageSuffix}' }
            { name: 'FLOWLOG_OFFSETS_TABLE', value: offsetTable }
            {
              name: 'FLOWLOG_SOURCES_ALLOWED'
              value: '["${sourceBlob}/insights-logs-flowlogflowevent", "${sourceBlob}/insights-logs-networksecuritygroupflowevent"]'
            }
            { name: 'FLOWLOG_OUTPUT_NAMESPACE', value: '${eventHubsNamespaceName}.servicebus.windows.net' }
            { name: 'FLOWLOG_OUTPUT_HUB', value: outputHubName }
            { name: 'FLOWLOG_OUTPUT_ADX_TABLE', value: adxTableName }
            { name: 'FLOWLOG_OUTPUT_ADX_MAPPING', value: adxMappingName }
            { name: 'FLOWLOG_DEAD_LETTER_ACCOUNT_URL', value: stateBlob }
            { name: 'FLOWLOG_DEAD_LETTER_CONTAINER', value: deadLetterContainer }
          ], logAnalyticsEnv)
          // A Consumption pair; drains peaked at 140-270 MiB RSS (deploy/kubernetes/deployment.yaml).
          resources: {
            cpu: json('0.5')
            memory: '1Gi'
          }
          probes: [
            {
              // Two minutes for the first token and partition claims, as on Kubernetes (Container
              // Apps allows at most 10 failures, so a longer period).
              type: 'Startup'
              httpGet: { path: '/healthz', port: 9090 }
              periodSeconds: 12
              timeoutSeconds: 3
              failureThreshold: 10
            }
            {
              type: 'Liveness'
              httpGet: { path: '/healthz', port: 9090 }
              periodSeconds: 10
              timeoutSeconds: 3
              failureThreshold: 3
            }
            {
              type: 'Readiness'
              httpGet: { path: '/readyz', port: 9090 }
              periodSeconds: 10
              timeoutSeconds: 3
              failureThreshold: 3
            }
          ]
          volumeMounts: [
            {
              volumeName: 'config'
              mountPath: '/etc/flowlog'
            }
          ]
        }
      ]
      volumes: [
        {
          name: 'config'
          storageType: 'Secret'
          secrets: [
            {
              secretRef: 'flowlog-toml'
              path: 'flowlog.toml'
            }
          ]
        }
      ]
      // The values of deploy/kubernetes/keda.yaml (why each is what it is: see there).
      scale: {
        minReplicas: 1
        maxReplicas: maxReplicas
        pollingInterval: 30
        cooldownPeriod: 300
        rules: [
          {
            name: 'input-lag'
            custom: {
              type: 'azure-eventhub'
              // The scaler authenticates as the app's identity: Event Hubs Data Receiver on the
              // input hub, Storage Blob Data Contributor on the checkpoint container.
              identity: identityId
              metadata: {
                eventHubNamespace: eventHubsNamespaceName
                eventHubName: inputHubName
                consumerGroup: consumerGroup
                // The Rust checkpoint store writes <namespace FQDN>/<hub>/<group>/checkpoint/<id>
                // blobs with sequencenumber/offset metadata, which is what blobMetadata reads.
                checkpointStrategy: 'blobMetadata'
                storageAccountName: stateStorageAccountName
                blobContainer: checkpointContainer
                unprocessedEventThreshold: '64'
                activationUnprocessedEventThreshold: '1'
              }
            }
          }
        ]
      }
    }
  }
  // The image pull needs AcrPull in place when the first revision starts.
  dependsOn: [pull]
}

output appName string = app.name
output environmentName string = appEnvironment.name
output logAnalyticsWorkspaceId string = logs.id
