// PostgreSQL Flexible Server 16 with both Entra ID and password authentication, the `cloudtelephony` database,
// and either public access limited by firewall rules or private access (VNet-injected, delegated subnet).
// The app's identity is made an Entra administrator so the connection can move to token auth without a template
// change; today the handler connects with the password connection string kept in Key Vault (see README).

param location string

@description('Server name: 3-63 lower-case letters, digits and hyphens, globally unique.')
param name string

@description('Administrator login for password authentication.')
param administratorLogin string

@secure()
@description('Administrator password (from the deployer, stored in Key Vault as part of the connection string).')
param administratorPassword string

@description('Database the app uses.')
param databaseName string = 'cloudtelephony'

@description('public = public endpoint with firewall rules; private = VNet integration (no public endpoint).')
@allowed([ 'public', 'private' ])
param networkMode string = 'public'

@description('Firewall rules for networkMode=public: [{ name, startIpAddress, endIpAddress }]. 0.0.0.0-0.0.0.0 = Azure services (needed for Flex Consumption without VNet, whose outbound IPs are shared).')
param firewallRules array = []

@description('Delegated subnet (Microsoft.DBforPostgreSQL/flexibleServers) for networkMode=private.')
param delegatedSubnetId string = ''

@description('Private DNS zone (*.postgres.database.azure.com) for networkMode=private.')
param privateDnsZoneId string = ''

@description('Compute SKU.')
param skuName string = 'Standard_B1ms'

@allowed([ 'Burstable', 'GeneralPurpose', 'MemoryOptimized' ])
param skuTier string = 'Burstable'

@minValue(32)
param storageSizeGB int = 32

@description('Entra principal made PostgreSQL administrator (the Function app identity).')
param entraAdminPrincipalId string

@description('Display name of that principal (the managed identity name).')
param entraAdminPrincipalName string

@description('Key Vault that receives the connection string secret.')
param keyVaultName string

param tags object = {}

resource server 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: name
  location: location
  tags: tags
  sku: { name: skuName, tier: skuTier }
  properties: {
    version: '16'
    administratorLogin: administratorLogin
    administratorLoginPassword: administratorPassword
    authConfig: {
      activeDirectoryAuth: 'Enabled'
      passwordAuth: 'Enabled'
      tenantId: subscription().tenantId
    }
    storage: { storageSizeGB: storageSizeGB, autoGrow: 'Enabled' }
    backup: { backupRetentionDays: 14, geoRedundantBackup: 'Disabled' }
    highAvailability: { mode: 'Disabled' }
    network: networkMode == 'private'
      ? {
          publicNetworkAccess: 'Disabled'
          delegatedSubnetResourceId: delegatedSubnetId
          privateDnsZoneArmResourceId: privateDnsZoneId
        }
      : {
          publicNetworkAccess: 'Enabled'
        }
  }
}

resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: server
  name: databaseName
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
}

@batchSize(1) // the server accepts one configuration change at a time
resource firewall 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules@2024-08-01' = [for rule in (networkMode == 'public' ? firewallRules : []): {
  parent: server
  name: rule.name
  properties: {
    startIpAddress: rule.startIpAddress
    endIpAddress: rule.endIpAddress
  }
  dependsOn: [ database ]
}]

resource entraAdmin 'Microsoft.DBforPostgreSQL/flexibleServers/administrators@2024-08-01' = {
  parent: server
  name: entraAdminPrincipalId
  properties: {
    principalName: entraAdminPrincipalName
    principalType: 'ServicePrincipal'
    tenantId: subscription().tenantId
  }
  dependsOn: [ firewall ]
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource connectionSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'postgres-connection'
  properties: {
    value: 'Host=${server.properties.fullyQualifiedDomainName};Port=5432;Database=${databaseName};Username=${administratorLogin};Password=${administratorPassword};SSL Mode=VerifyFull'
    contentType: 'Npgsql connection string (password authentication)'
  }
}

output id string = server.id
output fqdn string = server.properties.fullyQualifiedDomainName
output databaseName string = database.name
output connectionSecretUri string = connectionSecret.properties.secretUri
