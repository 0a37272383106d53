package httpapi

// RegisteredRoutes exposes registeredRoutes to openapi_test.go, which is
// in package httpapi_test to share its helpers.
var RegisteredRoutes = registeredRoutes
