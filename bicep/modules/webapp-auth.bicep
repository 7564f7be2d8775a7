// Optional: App Service authentication ("Easy Auth") with Entra ID in front of the web app (main.bicep sets it up when
// webAppEntraClientId is given). Every request still reaches the app (unauthenticatedClientAction AllowAnonymous):
// the CRM API keeps answering crm tokens and the relay/ingest paths their keys; a person who signed in at
// /.auth/login/aad gets the X-MS-CLIENT-PRINCIPAL header, which App Service sets itself (a client's own copy is
// removed). The app trusts that header only with WebApp__Auth__AppService=true, which main.bicep sets together with
// this module, and maps the person's Entra tenant (and optional group) to an enterprise (WebApp__Auth__Map__0__*).

@description('Name of the Function app.')
param siteName string

@description('Application (client) id of the Entra app registration of the web app (redirect URI https://<host>/.auth/login/aad/callback).')
param clientId string

@description('Entra tenant (directory) id whose accounts sign in.')
param tenantId string

@description('Name of the app setting that holds the app registration\'s client secret (a Key Vault reference), or empty to sign in with ID tokens only (the registration must allow ID tokens).')
param credentialSettingName string = ''

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: siteName
}

resource auth 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
      runtimeVersion: '~1'
    }
    globalValidation: {
      requireAuthentication: false
      unauthenticatedClientAction: 'AllowAnonymous'
    }
    httpSettings: {
      requireHttps: true
      routes: { apiPrefix: '/.auth' }
      forwardProxy: { convention: 'NoProxy' }
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: clientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenantId}/v2.0'
          clientSecretSettingName: empty(credentialSettingName) ? null : credentialSettingName
        }
        validation: {
          allowedAudiences: [ 'api://${clientId}', clientId ]
        }
      }
    }
    login: {
      tokenStore: { enabled: true }
      preserveUrlFragmentsForLogins: true
    }
  }
}

output loginPath string = '/.auth/login/aad'
