// The custom role listing exactly the ARM actions Jumpgate calls (jumpgate-operator-role.json; a test
// derives the same list from the code), and its assignment on the whole subscription unless the
// deployment restricts Jumpgate to named resource groups.
targetScope = 'subscription'

param environmentName string
param assignToSubscription bool
param principalId string
@description('ABAC condition limiting which role assignments Jumpgate may create and delete.')
param condition string

var role = loadJsonContent('../jumpgate-operator-role.json')

resource operator 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(subscription().id, 'jumpgate-operator', environmentName)
  properties: {
    roleName: '${role.roleName} (${environmentName})'
    description: role.description
    type: 'CustomRole'
    assignableScopes: [subscription().id]
    permissions: [
      {
        actions: role.actions
        notActions: role.notActions
        dataActions: role.dataActions
        notDataActions: role.notDataActions
      }
    ]
  }
}

resource subscriptionAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (assignToSubscription) {
  name: guid(subscription().id, principalId, operator.id)
  properties: {
    roleDefinitionId: operator.id
    principalId: principalId
    principalType: 'ServicePrincipal'
    condition: condition
    conditionVersion: '2.0'
  }
}

output roleDefinitionId string = operator.id
