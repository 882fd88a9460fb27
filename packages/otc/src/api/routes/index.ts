// Every business route of the OTC service, registered on the framework of api/server.ts.
import type { Desk } from '../../desk.ts';
import type { OtcApp } from '../server.ts';
import { registerDeskRoutes } from './desk.ts';
import { registerOrderRoutes } from './orders.ts';
import { registerRecordRoutes } from './records.ts';

export function registerRoutes(desk: Desk): (app: OtcApp) => void {
  return (app) => {
    registerDeskRoutes(app, desk);
    registerOrderRoutes(app, desk);
    registerRecordRoutes(app, desk);
  };
}
