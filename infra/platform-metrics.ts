/**
 * The custom metric the health sweep publishes for each manager (namespace `METRICS_NAMESPACE`,
 * with Powertools' `service` dimension), named once for the function that publishes it and the
 * stacks whose alarms and dashboard watch it. Free of imports: Lambda bundles load it.
 */
export const MANAGER_UNHEALTHY_METRIC = 'ManagerUnhealthy';
/** The dimension naming the manager (its id in the manifest). */
export const MANAGER_DIMENSION = 'manager';
