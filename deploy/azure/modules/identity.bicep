// User-assigned managed identity for flowlog, trusted by the AKS cluster's OIDC issuer for the
// flowlog service account (and optionally the KEDA operator's). Without AKS (Container Apps, a
// VM) the identity is attached directly and needs no federated credential.

@description('Region of the identity.')
param location string

@description('Identity name.')
param identityName string

@description('AKS OIDC issuer URL; empty: no federated credentials (not on AKS).')
param oidcIssuerUrl string

@description('Namespace of the flowlog service account.')
param kubernetesNamespace string

@description('flowlog service account name.')
param kubernetesServiceAccount string

@description('Whether to federate the KEDA operator too.')
param federateKedaOperator bool

@description('KEDA operator namespace.')
param kedaNamespace string

@description('KEDA operator service account.')
param kedaServiceAccount string

@description('Resource tags.')
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: identityName
  location: location
  tags: tags
}

// The token the workload identity webhook projects into the pod has this issuer, subject and
// audience; Entra ID exchanges it for a token of this identity.
resource flowlogCredential 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials@2023-01-31' = if (!empty(oidcIssuerUrl)) {
  parent: identity
  name: 'aks-${kubernetesNamespace}-${kubernetesServiceAccount}'
  properties: {
    issuer: oidcIssuerUrl
    subject: 'system:serviceaccount:${kubernetesNamespace}:${kubernetesServiceAccount}'
    audiences: ['api://AzureADTokenExchange']
  }
}

resource kedaCredential 'Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials@2023-01-31' = if (federateKedaOperator && !empty(oidcIssuerUrl)) {
  parent: identity
  name: 'aks-${kedaNamespace}-${kedaServiceAccount}'
  properties: {
    issuer: oidcIssuerUrl
    subject: 'system:serviceaccount:${kedaNamespace}:${kedaServiceAccount}'
    audiences: ['api://AzureADTokenExchange']
  }
  // Federated credentials of one identity cannot be written concurrently.
  dependsOn: [flowlogCredential]
}

output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
output id string = identity.id
