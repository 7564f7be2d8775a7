// Example parameters. The PostgreSQL password is read from the environment at deployment time:
//   export CT_POSTGRES_ADMIN_PASSWORD="$(openssl rand -base64 24)"
//   az deployment group create -g rg-ct-test -f bicep/main.bicep -p bicep/main.bicepparam
using 'main.bicep'

param environmentName = 'test'
param functionPlan = 'FlexConsumption'
param postgresAdminLogin = 'ctadmin'
param postgresAdminPassword = readEnvironmentVariable('CT_POSTGRES_ADMIN_PASSWORD') // no default: unset = the build fails
param postgresNetworkMode = 'public'
param framesDuplicateDetectionWindow = 'P1D'
// e.g. '/subscriptions/<sub>/resourceGroups/<rg>/providers/microsoft.insights/actionGroups/ct-oncall'
param actionGroupId = ''
param tags = {
  app: 'cloudtelephony'
  env: 'test'
}
// Web app sign-in with Entra ID (optional, README "Web app"); without it people sign in with a crm token:
// param webAppEntraClientId = '<application (client) id of the web app registration>'
// param webAppEnterprise = '<enterprise name>'
// param webAppEntraGroupId = '<group object id>'            // optional: only members of this group
// param webAppEntraCredentialName = '<Key Vault secret name>' // optional: the registration's client secret
