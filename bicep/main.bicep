// CloudTelephony — the whole cloud side in one resource group:
//   monitoring (Log Analytics + Application Insights), managed identity, storage (Functions host + frame archive),
//   Key Vault (RBAC), Service Bus (pbx-frames with sessions + duplicate detection, sms), PostgreSQL Flexible Server 16,
//   the Function app (Linux custom handler; Flex Consumption or Elastic Premium), alerts and a workbook.
// Deploy:  az deployment group create -g <rg> -f bicep/main.bicep -p bicep/main.bicepparam
// Only local modules: `./ct bicep` builds and lints everything offline.

targetScope = 'resourceGroup'

@description('Azure region of every resource.')
param location string = resourceGroup().location

@description('Short environment name, part of every resource name (e.g. prod, test).')
@minLength(2)
@maxLength(10)
param environmentName string

@description('Hosting plan of the Function app: FlexConsumption (default) or ElasticPremium. See modules/functionapp.bicep.')
@allowed([ 'FlexConsumption', 'ElasticPremium' ])
param functionPlan string = 'FlexConsumption'

@description('PostgreSQL administrator login (password authentication).')
param postgresAdminLogin string

@secure()
@description('PostgreSQL administrator password. Pass it from a secret store; it ends up only in Key Vault.')
@minLength(16)
param postgresAdminPassword string

@description('PostgreSQL network: public (firewall rules) or private (delegated subnet + private DNS zone).')
@allowed([ 'public', 'private' ])
param postgresNetworkMode string = 'public'

@description('PostgreSQL firewall rules for public mode: [{ name, startIpAddress, endIpAddress }].')
param postgresFirewallRules array = [
  // 0.0.0.0 - 0.0.0.0 is Azure's "allow Azure services" rule: Flex Consumption without VNet has no fixed outbound IPs.
  { name: 'AllowAllAzureServicesAndResourcesWithinAzureIps', startIpAddress: '0.0.0.0', endIpAddress: '0.0.0.0' }
]

@description('Private mode: delegated subnet resource id.')
param postgresDelegatedSubnetId string = ''

@description('Private mode: private DNS zone resource id.')
param postgresPrivateDnsZoneId string = ''

@description('Service Bus duplicate detection window for pbx-frames (longest relay outage to cover).')
param framesDuplicateDetectionWindow string = 'P1D'

@description('Action group notified by the alerts (resource id); empty = none.')
param actionGroupId string = ''

@description('Web app sign-in with Entra ID (App Service authentication): application (client) id of its app registration; empty = off (people sign in with a crm token).')
param webAppEntraClientId string = ''

@description('Web app sign-in: the Entra tenant whose accounts sign in (default: this deployment\'s tenant).')
param webAppEntraTenantId string = tenant().tenantId

@description('Web app sign-in: the enterprise (name, as ./ct admin enterprise list shows it) the tenant\'s people see.')
param webAppEnterprise string = ''

@description('Web app sign-in: optional Entra group (object id) a person must be a member of (needs the groups claim in the ID token).')
param webAppEntraGroupId string = ''

@description('Web app sign-in: name of the Key Vault secret holding the app registration\'s client secret; empty = ID tokens only.')
param webAppEntraCredentialName string = ''

@description('Consumers of the call-events topic (live call events): [{name: subscription name, enterprise: enterprise name}], one subscription each with a SQL filter on the enterprise.')
param eventConsumers array = []

@description('Key that encrypts the webhook signing secrets (Events__WebhookKey: 32 random bytes in base64, openssl rand -base64 32). Stored in Key Vault as events-webhook-key; keep it across deployments (a new key makes the stored secrets unreadable). Empty: no webhooks.')
@secure()
param eventsWebhookKey string = ''

@description('Tags on every resource.')
param tags object = {}

var baseName = 'ct-${environmentName}'
var suffix = uniqueString(resourceGroup().id, environmentName)
// Globally unique names: storage (24, lower-case alphanumerics), Key Vault (24), Service Bus (50), PostgreSQL (63).
var storageName = take('stct${toLower(environmentName)}${suffix}', 24)
var keyVaultName = take('kv-ct-${environmentName}-${suffix}', 24)
var serviceBusName = 'sb-${baseName}-${suffix}'
var postgresName = 'psql-${baseName}-${suffix}'

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: { location: location, baseName: baseName, tags: tags }
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: { location: location, baseName: baseName, tags: tags }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    name: storageName
    principalId: identity.outputs.principalId
    tags: tags
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    location: location
    name: keyVaultName
    principalId: identity.outputs.principalId
    tags: tags
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  params: {
    location: location
    name: serviceBusName
    principalId: identity.outputs.principalId
    keyVaultName: keyVaultName
    duplicateDetectionWindow: framesDuplicateDetectionWindow
    eventConsumers: eventConsumers
    tags: tags
  }
  dependsOn: [ keyVault ] // writes the relay SAS key into the vault
}

module postgres 'modules/postgres.bicep' = {
  name: 'postgres'
  params: {
    location: location
    name: postgresName
    administratorLogin: postgresAdminLogin
    administratorPassword: postgresAdminPassword
    networkMode: postgresNetworkMode
    firewallRules: postgresFirewallRules
    delegatedSubnetId: postgresDelegatedSubnetId
    privateDnsZoneId: postgresPrivateDnsZoneId
    entraAdminPrincipalId: identity.outputs.principalId
    entraAdminPrincipalName: identity.outputs.name
    keyVaultName: keyVaultName
    tags: tags
  }
  dependsOn: [ keyVault ] // writes the connection string into the vault
}

// The web app is served at / (function WebApp); with Entra sign-in on, the app trusts App Service's identity headers.
var webAppSignIn = !empty(webAppEntraClientId)
var webAppSettings = union(
  { AzureWebJobsDisableHomepage: 'true' },
  webAppSignIn
    ? union(
        {
          WebApp__Auth__AppService: 'true'
          WebApp__Auth__Map__0__TenantId: webAppEntraTenantId
          WebApp__Auth__Map__0__Enterprise: webAppEnterprise
        },
        empty(webAppEntraGroupId) ? {} : { WebApp__Auth__Map__0__Group: webAppEntraGroupId },
        empty(webAppEntraCredentialName)
          ? {}
          : { MICROSOFT_PROVIDER_AUTHENTICATION_SECRET: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=${webAppEntraCredentialName})' })
    : {})

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    location: location
    baseName: baseName
    plan: functionPlan
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageBlobEndpoint: storage.outputs.blobEndpoint
    storageQueueEndpoint: storage.outputs.queueEndpoint
    storageTableEndpoint: storage.outputs.tableEndpoint
    deploymentContainerName: storage.outputs.deploymentContainerName
    archiveContainerName: storage.outputs.archiveContainerName
    appInsightsConnectionString: monitoring.outputs.appInsightsConnectionString
    serviceBusNamespace: serviceBus.outputs.fullyQualifiedNamespace
    postgresSecretUri: postgres.outputs.connectionSecretUri
    extraAppSettings: union(webAppSettings, empty(eventsWebhookKey) ? {} : {
      Events__WebhookKey: '@Microsoft.KeyVault(SecretUri=${webhookKeySecret!.properties.secretUri})'
    })
    tags: tags
  }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
  dependsOn: [ keyVault ]
}

// The live events' webhook key (only when given): the Function app reads it through its Key Vault reference.
resource webhookKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(eventsWebhookKey)) {
  parent: vault
  name: 'events-webhook-key'
  properties: {
    value: eventsWebhookKey
    contentType: 'base64 AES-256 key (Events__WebhookKey)'
  }
}

module webAppAuth 'modules/webapp-auth.bicep' = if (webAppSignIn) {
  name: 'webapp-auth'
  params: {
    siteName: functionApp.outputs.name
    clientId: webAppEntraClientId
    tenantId: webAppEntraTenantId
    credentialSettingName: empty(webAppEntraCredentialName) ? '' : 'MICROSOFT_PROVIDER_AUTHENTICATION_SECRET'
  }
}

module alerts 'modules/alerts.bicep' = {
  name: 'alerts'
  params: {
    location: location
    baseName: baseName
    appInsightsId: monitoring.outputs.appInsightsId
    serviceBusId: serviceBus.outputs.id
    actionGroupId: actionGroupId
    tags: tags
  }
}

module workbook 'modules/workbook.bicep' = {
  name: 'workbook'
  params: {
    location: location
    baseName: baseName
    appInsightsId: monitoring.outputs.appInsightsId
    tags: tags
  }
}

output functionAppName string = functionApp.outputs.name
output functionAppHostName string = functionApp.outputs.defaultHostName
output webAppUrl string = 'https://${functionApp.outputs.defaultHostName}/'
output webAppSignIn string = webAppSignIn ? 'entra' : 'token'

output serviceBusNamespace string = serviceBus.outputs.fullyQualifiedNamespace
output callEventsTopic string = serviceBus.outputs.eventsTopicName
output relaySasKeyName string = 'relay-send'
output relaySasKeySecret string = '${keyVault.outputs.uri}secrets/${serviceBus.outputs.relayKeySecretName}'
output keyVaultName string = keyVault.outputs.name
output postgresHost string = postgres.outputs.fqdn
output storageAccountName string = storage.outputs.name
output workbookId string = workbook.outputs.id
